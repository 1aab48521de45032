/**
 * The report of the vision-language demo: loss curves of both stages, held-out answer accuracy by
 * question kind against chance and the majority answer, and example images with their questions, the
 * reference answers and the model's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StepMetrics } from '../train/metrics.js';
import { lineChartSvg, svgToPng, type Row } from './charts.js';
import { reportHtml } from './html.js';

export interface AccuracyRow {
  kind: string;
  questions: number;
  accuracy: number;
  /** Expected accuracy of a uniform guess among the kind's answers. */
  chance: number;
  /** Accuracy of always giving the kind's most frequent training answer. */
  majority: number;
  /** Accuracy with every image swapped for another record's (how much the answers use the image). */
  swapped?: number;
}

export interface ExampleRow {
  png: Buffer;
  question: string;
  answer: string;
  predicted: string;
}

export interface VlmReport {
  stages: { name: string; metrics: StepMetrics[] }[];
  accuracy: AccuracyRow[];
  examples: ExampleRow[];
  notes: string[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Writes DIR/index.html (+ curve SVG/PNG files); returns the page's path. */
export async function writeVlmReport(dir: string, r: VlmReport): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const svgs: string[] = [];
  for (const s of r.stages) {
    const rows: Row[] = s.metrics.map((m) => ({ step: m.step, value: m.loss, curve: 'train' }));
    for (const m of s.metrics)
      if (m.val_loss !== undefined) rows.push({ step: m.step, value: m.val_loss, curve: 'held out' });
    const svg = await lineChartSvg({
      title: `${s.name}: loss`,
      rows,
      x: 'step',
      y: 'value',
      series: 'curve',
      yTitle: 'cross-entropy on answer tokens (nats)',
    });
    const file = s.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
    fs.writeFileSync(path.join(dir, `${file}.svg`), svg);
    fs.writeFileSync(path.join(dir, `${file}.png`), svgToPng(svg));
    svgs.push(svg);
    // how much the batch's image tokens differ between images (0: the image tokens have collapsed)
    const spread: Row[] = s.metrics.flatMap((m) =>
      m.stats?.image_spread !== undefined
        ? [{ step: m.step, value: m.stats.image_spread, curve: 'image tokens' }]
        : [],
    );
    if (spread.length) {
      const sv = await lineChartSvg({
        title: `${s.name}: image-token spread`,
        rows: spread,
        x: 'step',
        y: 'value',
        series: 'curve',
        yTitle: 'RMS deviation across the batch / RMS',
      });
      fs.writeFileSync(path.join(dir, `${file}-spread.svg`), sv);
      svgs.push(sv);
    }
  }
  // example images inline (data URLs), scaled up without smoothing so the pixels stay visible
  const figures = r.examples.map(
    (e) =>
      `<figure style="display:inline-block;margin:8px;width:180px;vertical-align:top"><img width="128" height="128" style="image-rendering:pixelated;border:1px solid #999" src="data:image/png;base64,${e.png.toString('base64')}"><figcaption>${esc(e.question)}<br><b>reference:</b> ${esc(e.answer)}<br><b>model:</b> <span style="color:${e.predicted === e.answer ? '#080' : '#b00'}">${esc(e.predicted || '(nothing)')}</span></figcaption></figure>`,
  );
  const head = ['kind', 'questions', 'accuracy', 'chance (uniform)', 'majority answer'];
  const withSwap = r.accuracy.some((a) => a.swapped !== undefined);
  if (withSwap) head.push('images swapped');
  const html = reportHtml('MiniCPM-V micro run: synthetic shapes', [
    { title: 'Run', text: r.notes.join(' ') },
    {
      title: 'Held-out answer accuracy',
      table: {
        head,
        rows: r.accuracy.map((a) => {
          const row: (string | number)[] = [a.kind, a.questions, a.accuracy, a.chance, a.majority];
          if (withSwap) row.push(a.swapped ?? '—');
          return row;
        }),
      },
    },
    { title: 'Curves', svgs },
    { title: 'Held-out examples', svgs: [figures.join('\n')] },
  ]);
  const file = path.join(dir, 'index.html');
  fs.writeFileSync(file, html);
  return file;
}
