/**
 * Turns observed losses into GP targets. A diverged run (NaN/Infinity) carries real information, "do
 * not go there", so it is kept at the worst finite loss plus a margin instead of being dropped; the GP
 * then predicts high loss around it and EI steers away. Targets are then standardised so the fixed
 * hyper-parameter bounds and ξ mean the same thing whatever the loss scale.
 */
export interface Targets {
  /** Standardised targets, one per trial. */
  z: number[];
  /** z = (y − mean)/scale. */
  mean: number;
  scale: number;
  /** Lowest standardised target of a finite trial. */
  bestZ: number;
  /** Indices of the finite trials. */
  finite: number[];
}

/** Margin above the worst finite loss, as a fraction of the finite losses' range. */
export const DIVERGED_MARGIN = 0.5;

/** Null when no trial is finite: there is nothing to model yet. */
export function makeTargets(ys: number[]): Targets | null {
  const finite = ys.flatMap((y, i) => (Number.isFinite(y) ? [i] : []));
  if (finite.length === 0) return null;
  const fy = finite.map((i) => ys[i]);
  const lo = Math.min(...fy);
  const hi = Math.max(...fy);
  const margin = hi > lo ? DIVERGED_MARGIN * (hi - lo) : Math.max(1e-6, 0.1 * Math.abs(hi));
  const filled = ys.map((y) => (Number.isFinite(y) ? y : hi + margin));
  const mean = filled.reduce((s, y) => s + y, 0) / filled.length;
  const sd = Math.sqrt(filled.reduce((s, y) => s + (y - mean) ** 2, 0) / filled.length);
  const scale = sd > 1e-12 * Math.max(1, Math.abs(mean)) ? sd : 1;
  const z = filled.map((y) => (y - mean) / scale);
  return { z, mean, scale, bestZ: (lo - mean) / scale, finite };
}
