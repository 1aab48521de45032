/**
 * Starting points by variable projection: guess only the nonlinear parameters (exponents, rates) on a
 * grid, then solve the linear ones (coefficients, L0) exactly by non-negative least squares. Each
 * start is then already the best curve for its exponents, so LM rarely wanders off.
 */
import { nnlsSmall } from './linalg.js';
import type { Params } from './types.js';

export function linearizedStarts<X>(
  xs: X[],
  ys: number[],
  guesses: Params[],
  basis: (g: Params, x: X) => number[],
  linear: string[],
  nonneg: boolean[],
): Params[] {
  const out: { p: Params; rss: number }[] = [];
  for (const g of guesses) {
    const rows = xs.map((x) => basis(g, x));
    const cols = linear.map((_, j) => rows.map((r) => r[j]));
    if (cols.some((c) => !c.every(Number.isFinite))) continue;
    const coef = nnlsSmall(cols, ys, nonneg);
    if (!coef) continue;
    const p: Params = { ...g };
    linear.forEach((name, j) => (p[name] = coef[j]));
    const rss = rows.reduce((s, r, i) => s + (ys[i] - r.reduce((t, v, j) => t + v * coef[j], 0)) ** 2, 0);
    out.push({ p, rss });
  }
  // Best first, so that a smaller `starts` budget keeps the most promising ones.
  return out.sort((a, b) => a.rss - b.rss).map((s) => s.p);
}

/** A log-spaced grid from lo to hi (count ≥ 2 points). */
export function logGrid(lo: number, hi: number, count: number): number[] {
  const [a, b] = [Math.log(lo), Math.log(hi)];
  return Array.from({ length: count }, (_, i) => Math.exp(a + ((b - a) * i) / (count - 1)));
}

/**
 * ln of a coefficient that NNLS may have pinned at 0: the optimiser works on ln(coefficient) so that
 * coefficients stay > 0, and ln 0 would be no start at all. Floored relative to the data's scale.
 */
export function lnPositive(v: number, ys: number[]): number {
  const scale = Math.max(...ys.map(Math.abs), 1e-300);
  return Math.log(Math.max(v, 1e-8 * scale));
}

export function geoMean(v: number[]): number {
  return Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length);
}
