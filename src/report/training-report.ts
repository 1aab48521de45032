/** The end-of-run report of `minicpm train`: loss and LR curves (SVG + PNG) and an HTML page. */
import fs from 'node:fs';
import path from 'node:path';
import type { StepMetrics } from '../train/metrics.js';
import { lineChartSvg, svgToPng, type Row } from './charts.js';
import { reportHtml } from './html.js';

export async function writeTrainingReport(
  runDir: string,
  metrics: StepMetrics[],
  title = 'Training run',
): Promise<string> {
  const dir = path.join(runDir, 'report');
  fs.mkdirSync(dir, { recursive: true });
  const loss: Row[] = metrics.map((m) => ({ step: m.step, value: m.loss, curve: 'train' }));
  for (const m of metrics)
    if (m.val_loss !== undefined) loss.push({ step: m.step, value: m.val_loss, curve: 'validation' });
  const charts = {
    loss: await lineChartSvg({
      title: 'Loss',
      rows: loss,
      x: 'step',
      y: 'value',
      series: 'curve',
      yTitle: 'cross-entropy (nats)',
    }),
    lr: await lineChartSvg({
      title: 'Learning rate',
      rows: metrics.map((m) => ({ step: m.step, lr: m.lr })),
      x: 'step',
      y: 'lr',
    }),
    grad: await lineChartSvg({
      title: 'Gradient norm (before clipping)',
      rows: metrics.map((m) => ({ step: m.step, norm: m.grad_norm })),
      x: 'step',
      y: 'norm',
    }),
  };
  for (const [name, svg] of Object.entries(charts)) {
    fs.writeFileSync(path.join(dir, `${name}.svg`), svg);
    fs.writeFileSync(path.join(dir, `${name}.png`), svgToPng(svg));
  }
  const last = metrics[metrics.length - 1];
  const html = reportHtml(title, [
    {
      title: 'Summary',
      table: {
        head: ['steps', 'tokens', 'final loss', 'final val loss', 'tokens/s (last)', 'MFU (last)'],
        rows: [
          [
            metrics.length,
            last?.tokens ?? 0,
            last?.loss ?? NaN,
            last?.val_loss ?? '—',
            last?.tokens_per_s ?? 0,
            last?.mfu ?? 0,
          ],
        ],
      },
    },
    { title: 'Curves', svgs: Object.values(charts) },
  ]);
  const file = path.join(dir, 'index.html');
  fs.writeFileSync(file, html);
  return file;
}
