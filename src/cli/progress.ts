/** One-line progress reports for long-running commands. */
import type { StepMetrics } from '../train/metrics.js';

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function progressLine(m: StepMetrics, totalSteps: number): string {
  const done = m.step + 1;
  const eta = (m.elapsed_s / done) * (totalSteps - done);
  const parts = [
    `step ${done}/${totalSteps}`,
    `loss ${m.loss.toFixed(4)}`,
    `lr ${m.lr.toExponential(2)}`,
    `|g| ${m.grad_norm.toFixed(3)}`,
    `${Math.round(m.tokens_per_s)} tok/s`,
  ];
  if (m.mfu !== undefined) parts.push(`MFU ${(100 * m.mfu).toFixed(1)}%`);
  if (m.val_loss !== undefined)
    parts.push(
      `val ${m.val_loss.toFixed(4)}${m.val_loss_se !== undefined ? ` ±${m.val_loss_se.toFixed(4)}` : ''}`,
    );
  if (m.val_bpb !== undefined) parts.push(`bpb ${m.val_bpb.toFixed(3)}`);
  parts.push(`ETA ${duration(eta)}`);
  return parts.join('  ');
}
