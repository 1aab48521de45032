/** Robust statistics and the Huber loss used by the fitter. */

export function median(v: number[]): number {
  return quantile(v, 0.5);
}

/** Linear-interpolation quantile (type 7, as numpy's default) of unsorted values. */
export function quantile(v: number[], q: number): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** Normal-consistent robust scale: 1.4826·median|r − median(r)|. */
export function madScale(r: number[]): number {
  const m = median(r);
  return 1.4826 * median(r.map((x) => Math.abs(x - m)));
}

/** Huber's ρ: quadratic within δ, linear beyond, so one outlier pulls with bounded force. */
export function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

export function huberLoss(residuals: number[], delta: number): number {
  let s = 0;
  for (const r of residuals) s += huber(r, delta);
  return s;
}

/** IRLS weight ψ(r)/r: 1 inside δ, δ/|r| outside. */
export function huberWeight(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 1 : delta / a;
}

/** Percentile interval at the given coverage; [NaN, NaN] with fewer than two values. */
export function percentileInterval(v: number[], confidence: number): [number, number] {
  const finite = v.filter(Number.isFinite);
  if (finite.length < 2) return [NaN, NaN];
  const tail = (1 - confidence) / 2;
  return [quantile(finite, tail), quantile(finite, 1 - tail)];
}
