/**
 * The search space and its map to the unit cube. The GP works in [0, 1]^d so one set of length-scale
 * bounds fits every dimension; log dimensions (lr, init_std) are mapped in log space because their
 * effect is multiplicative and a linear map would spend almost all samples in the top decade.
 */
import { SearchError } from './errors.js';

export interface SearchDim {
  name: string;
  lo: number;
  hi: number;
  /** Search in log space (requires lo > 0). */
  log?: boolean;
}

export interface Trial {
  x: Record<string, number>;
  /** Loss to minimise; NaN or ±Infinity for a diverged run. */
  y: number;
}

export function validateSpace(space: SearchDim[]): void {
  if (!Array.isArray(space) || space.length === 0)
    throw new SearchError('search space is empty; pass at least one SearchDim { name, lo, hi }.');
  const seen = new Set<string>();
  for (const d of space) {
    if (typeof d.name !== 'string' || d.name === '')
      throw new SearchError('a search dimension has no name; give every SearchDim a non-empty name.');
    if (seen.has(d.name))
      throw new SearchError(`search dimension '${d.name}' appears twice; dimension names must be unique.`);
    seen.add(d.name);
    if (!Number.isFinite(d.lo) || !Number.isFinite(d.hi))
      throw new SearchError(`dimension '${d.name}': bounds [${d.lo}, ${d.hi}] must be finite numbers.`);
    if (d.lo >= d.hi)
      throw new SearchError(`dimension '${d.name}': lo = ${d.lo} must be < hi = ${d.hi}; swap or widen the bounds.`);
    if (d.log && d.lo <= 0)
      throw new SearchError(
        `dimension '${d.name}' is log-scaled but lo = ${d.lo} ≤ 0; use a positive lo or drop log: true.`,
      );
  }
}

/** Value → unit coordinate (outside [0, 1] when the value lies outside the bounds). */
export function toUnit(d: SearchDim, v: number): number {
  if (d.log) return (Math.log(v) - Math.log(d.lo)) / (Math.log(d.hi) - Math.log(d.lo));
  return (v - d.lo) / (d.hi - d.lo);
}

/** Unit coordinate → value, clamped to the bounds (exp/log round-off must not step outside them). */
export function fromUnit(d: SearchDim, u: number): number {
  const v = d.log
    ? Math.exp(Math.log(d.lo) + u * (Math.log(d.hi) - Math.log(d.lo)))
    : d.lo + u * (d.hi - d.lo);
  return Math.min(d.hi, Math.max(d.lo, v));
}

export function pointFromUnit(space: SearchDim[], u: ArrayLike<number>): Record<string, number> {
  const x: Record<string, number> = {};
  space.forEach((d, j) => (x[d.name] = fromUnit(d, u[j])));
  return x;
}

/**
 * Checks every trial and maps it to the unit cube. Points outside the bounds are kept (a study may
 * narrow its space and still learn from old runs); only missing or impossible coordinates are errors.
 */
export function trialsToUnit(space: SearchDim[], history: Trial[]): number[][] {
  if (!Array.isArray(history)) throw new SearchError('history must be an array of { x, y } trials.');
  return history.map((t, i) => {
    if (t === null || typeof t !== 'object' || t.x === null || typeof t.x !== 'object')
      throw new SearchError(`history[${i}] is not a { x, y } trial.`);
    if (typeof t.y !== 'number')
      throw new SearchError(`history[${i}].y = ${String(t.y)} is not a number; use NaN or Infinity for a diverged run.`);
    return space.map((d) => {
      const v = t.x[d.name];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new SearchError(
          `history[${i}].x.${d.name} = ${String(v)} is missing or not finite; every trial needs a value for every dimension.`,
        );
      if (d.log && v <= 0)
        throw new SearchError(`history[${i}].x.${d.name} = ${v} ≤ 0 on a log-scaled dimension; record the value actually used.`);
      return toUnit(d, v);
    });
  });
}
