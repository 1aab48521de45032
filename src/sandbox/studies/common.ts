/** Pieces every study shares: schedules in MiniCPM's shapes, curve helpers and chart helpers. */
import fs from 'node:fs';
import path from 'node:path';
import { lineChartSvg, svgToPng, type LineChart } from '../../report/charts.js';
import type { ScheduleSpec } from '../../train/schedules.js';

/** WSD with an exponential decay over the last `decayFraction` of `steps` (half-life: a fifth of it). */
export function wsd(lr: number, steps: number, decayFraction: number, warmupFraction = 0.05): ScheduleSpec {
  const decaySteps = Math.max(1, Math.round(decayFraction * steps));
  return {
    kind: 'wsd',
    peak: lr,
    warmupSteps: Math.max(1, Math.round(warmupFraction * steps)),
    decayStart: steps - decaySteps,
    decay: 'exp',
    halfLife: Math.max(1, decaySteps / 5),
    decaySteps,
  };
}

/** The stable phase alone (no decay within `steps`). */
export function stable(lr: number, warmupSteps: number): ScheduleSpec {
  return {
    kind: 'wsd',
    peak: lr,
    warmupSteps,
    decayStart: Number.MAX_SAFE_INTEGER,
    decay: 'exp',
    halfLife: 1,
  };
}

/** Cosine(T) as MiniCPM's baseline: warmup, then down to 0.1·lr at T. */
export function cosine(lr: number, steps: number, warmupFraction = 0.05): ScheduleSpec {
  return {
    kind: 'cosine',
    peak: lr,
    warmupSteps: Math.max(1, Math.round(warmupFraction * steps)),
    totalSteps: steps,
  };
}

/**
 * The minimum of y over log2(x) refined by a parabola through the best point and its neighbours
 * (an edge optimum is returned as is and flagged).
 */
export function logParabolaMin(xs: number[], ys: number[]): { x: number; y: number; edge: boolean } {
  const pts = xs
    .map((x, i) => ({ x, y: ys[i] }))
    .filter((p) => Number.isFinite(p.y))
    .sort((a, b) => a.x - b.x);
  if (!pts.length) return { x: NaN, y: NaN, edge: true };
  let k = 0;
  for (let i = 1; i < pts.length; i++) if (pts[i].y < pts[k].y) k = i;
  if (k === 0 || k === pts.length - 1) return { x: pts[k].x, y: pts[k].y, edge: true };
  const [a, b, c] = [pts[k - 1], pts[k], pts[k + 1]].map((p) => ({ u: Math.log2(p.x), y: p.y }));
  // Vertex of the parabola through three points.
  const den = (a.u - b.u) * (a.u - c.u) * (b.u - c.u);
  const A = (c.u * (b.y - a.y) + b.u * (a.y - c.y) + a.u * (c.y - b.y)) / den;
  const B = (c.u * c.u * (a.y - b.y) + b.u * b.u * (c.y - a.y) + a.u * a.u * (b.y - c.y)) / den;
  if (!(A > 0)) return { x: pts[k].x, y: pts[k].y, edge: false };
  const u = Math.min(c.u, Math.max(a.u, -B / (2 * A)));
  const C = a.y - A * a.u * a.u - B * a.u;
  return { x: 2 ** u, y: A * u * u + B * u + C, edge: false };
}

/** Writes a chart as SVG + PNG into the report folder and returns the SVG for inlining. */
export async function chart(dir: string, file: string, c: LineChart): Promise<string> {
  const svg = await lineChartSvg(c);
  fs.writeFileSync(path.join(dir, `${file}.svg`), svg);
  fs.writeFileSync(path.join(dir, `${file}.png`), svgToPng(svg));
  return svg;
}

export const fmt = (x: number | null | undefined, digits = 4): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toPrecision(digits);

/** A decay branch: the parent's stable LR until `start`, then exponential decay over `decaySteps`. */
export function decayFrom(lr: number, warmupSteps: number, start: number, decaySteps: number): ScheduleSpec {
  return {
    kind: 'wsd',
    peak: lr,
    warmupSteps,
    decayStart: start,
    decay: 'exp',
    halfLife: Math.max(1, decaySteps / 5),
    decaySteps,
  };
}
