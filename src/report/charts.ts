/** Charts as SVG (vega-lite compiled and rendered by vega in Node, no canvas) and PNG (resvg). */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export type Row = Record<string, number | string | null>;

export interface LineChart {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  /** Field that splits rows into one line per value. */
  series?: string;
  xTitle?: string;
  yTitle?: string;
  logX?: boolean;
  logY?: boolean;
  /** Draw points instead of lines (e.g. for fitted data). */
  points?: boolean;
  width?: number;
  height?: number;
}

function spec(c: LineChart): vl.TopLevelSpec {
  const axis = (field: string, title: string | undefined, log: boolean | undefined) => ({
    field,
    type: 'quantitative' as const,
    title: title ?? field,
    scale: log ? { type: 'log' as const } : { zero: false },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: c.title,
    width: c.width ?? 520,
    height: c.height ?? 300,
    background: 'white',
    data: { values: c.rows },
    mark: c.points ? { type: 'point', filled: true } : { type: 'line', point: c.rows.length < 40 },
    encoding: {
      x: axis(c.x, c.xTitle, c.logX),
      y: axis(c.y, c.yTitle, c.logY),
      ...(c.series ? { color: { field: c.series, type: 'nominal' as const } } : {}),
    },
  };
}

export async function lineChartSvg(c: LineChart): Promise<string> {
  const compiled = vl.compile(spec(c)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true } })
    .render()
    .asPng();
}

export interface HeatmapChart {
  title: string;
  rows: Row[];
  x: string;
  y: string;
  /** The value shown by colour. */
  value: string;
  /** Points drawn on top (e.g. the evaluated trials). */
  points?: Row[];
  logX?: boolean;
  logY?: boolean;
}

/** A response surface: colour = value on an x/y grid, with optional points on top. */
export async function heatmapSvg(c: HeatmapChart): Promise<string> {
  const axis = (field: string, log: boolean | undefined) => ({
    field,
    type: 'quantitative' as const,
    scale: log ? { type: 'log' as const, nice: false } : { zero: false, nice: false },
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: c.title,
    width: 360,
    height: 300,
    background: 'white',
    layer: [
      {
        data: { values: c.rows },
        mark: { type: 'circle', size: 90, opacity: 0.9 },
        encoding: {
          x: axis(c.x, c.logX),
          y: axis(c.y, c.logY),
          color: {
            field: c.value,
            type: 'quantitative' as const,
            scale: { scheme: 'viridis', reverse: true },
          },
        },
      },
      ...(c.points
        ? [
            {
              data: { values: c.points },
              mark: { type: 'point' as const, shape: 'cross', color: 'red', size: 40 },
              encoding: { x: axis(c.x, c.logX), y: axis(c.y, c.logY) },
            },
          ]
        : []),
    ],
  } as vl.TopLevelSpec;
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
