/** Throttled progress lines (MB/s, ETA) for the long data steps; silent when given the `silent` log. */
import type { Log } from './types.js';

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatMB(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

export class Progress {
  private readonly start = Date.now();
  private last = Date.now();
  private bytes = 0;

  constructor(
    private readonly label: string,
    private readonly log: Log,
    /** Bytes expected in all (for the ETA), when known. */
    private readonly total?: number,
    private readonly intervalMs = 2000,
  ) {}

  /** Count `bytes` more; prints at most once per interval. `extra` is appended (e.g. token counts). */
  tick(bytes: number, extra?: () => string): void {
    this.bytes += bytes;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.log(this.line(extra?.()));
  }

  /** The final line, always printed. */
  done(extra?: string): void {
    this.log(this.line(extra) + ' done');
  }

  private line(extra?: string): string {
    const s = Math.max((Date.now() - this.start) / 1000, 1e-3);
    const rate = this.bytes / 1e6 / s;
    const parts = [
      `[${this.label}]`,
      this.total ? `${formatMB(this.bytes)}/${formatMB(this.total)}` : formatMB(this.bytes),
    ];
    parts.push(`${rate.toFixed(2)} MB/s`);
    if (extra) parts.push(extra);
    if (this.total && this.bytes < this.total)
      parts.push(`ETA ${formatDuration((this.total - this.bytes) / 1e6 / Math.max(rate, 1e-9))}`);
    else parts.push(formatDuration(s));
    return parts.join('  ');
  }
}
