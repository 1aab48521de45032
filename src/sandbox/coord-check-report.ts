/** Writes the coordinate-check report: RMS vs width per activation, for μP and SP, plus a verdict table. */
import fs from 'node:fs';
import path from 'node:path';
import { lineChartSvg, svgToPng } from '../report/charts.js';
import { reportHtml } from '../report/html.js';
import { growth, type CoordCheckOptions, type CoordPoint } from './coord-check.js';

export async function writeCoordCheckReport(
  dir: string,
  points: CoordPoint[],
  o: CoordCheckOptions,
): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'points.json'), JSON.stringify(points));
  const last = o.steps - 1;
  const svgs: string[] = [];
  for (const param of ['mup', 'sp'] as const) {
    const rows = points
      .filter((p) => p.param === param && p.step === last)
      .map((p) => ({ width: p.width, rms: p.rms, activation: p.activation }));
    const svg = await lineChartSvg({
      title: `${param === 'mup' ? 'μP' : 'standard parametrization'}: activation RMS after ${o.steps} steps`,
      rows,
      x: 'width',
      y: 'rms',
      series: 'activation',
      logX: true,
      logY: true,
    });
    fs.writeFileSync(path.join(dir, `coord-${param}.svg`), svg);
    fs.writeFileSync(path.join(dir, `coord-${param}.png`), svgToPng(svg));
    svgs.push(svg);
  }
  const gm = growth(points, 'mup', last);
  const gs = growth(points, 'sp', last);
  const html = reportHtml('μP coordinate check', [
    {
      title: 'Setup',
      text:
        `widths ${o.widths.join(', ')}, ${o.layers} layers, ${o.steps} Adam steps at lr ${o.lr}, batch ${o.batch}×${o.seqLen}. ` +
        'Flat lines mean the activation scale does not depend on width (μP works); rising lines mean it grows with width.',
    },
    { title: 'Activation RMS vs width', svgs },
    {
      title: `Growth from width ${o.widths[0]} to ${o.widths[o.widths.length - 1]} (RMS ratio at the last step)`,
      table: {
        head: ['activation', 'μP', 'SP'],
        rows: [...gm.keys()].map((k) => [k, gm.get(k)!, gs.get(k) ?? NaN]),
      },
    },
  ]);
  const file = path.join(dir, 'index.html');
  fs.writeFileSync(file, html);
  return file;
}
