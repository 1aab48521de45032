/**
 * Exponential decay of loss with compute, L(C) = α·e^(−β·C) + L0 (SPEC §4.4: the alternative that
 * MiniCPM found to fit worse than the power law).
 *
 * Conditioning: β·C multiplies a tiny rate by a huge compute; we fit k = β·g with g the geometric
 * mean of C, so that e^u·e^(−k·C/g) has O(1) parameters, with u = ln α keeping α > 0, and report
 * α = e^u, β = k/g.
 */
import { NONNEG } from './bounds.js';
import { checkPositive } from './power-law.js';
import { geoMean, linearizedStarts, lnPositive, logGrid } from './starts.js';
import type { Conditioning, CurveForm } from './types.js';

function condition(xs: number[]): Conditioning<number> {
  const g = geoMean(xs);
  const c = xs.map((x) => x / g);
  // Rates from "decays beyond the largest C" to "decays before the smallest C".
  const kLo = 0.1 / Math.max(...c);
  const kHi = 10 / Math.min(...c);
  const inner: CurveForm<number> = {
    name: 'exponential (conditioned)',
    formula: 'L(C) = e^u·e^(−k·C/g) + L0',
    params: ['u', 'k', 'L0'],
    predict: (q, C) => Math.exp(q.u - q.k * (C / g)) + q.L0,
    bounds: { k: NONNEG, L0: NONNEG },
    starts: (sx, sy) =>
      linearizedStarts(
        sx,
        sy,
        logGrid(kLo, kHi, 12).map((k) => ({ k })),
        (q, C) => [Math.exp(-q.k * (C / g)), 1],
        ['a', 'L0'],
        [true, true],
      ).map(({ a, k, L0 }) => ({ u: lnPositive(a, sy), k, L0 })),
  };
  return {
    form: inner,
    toOriginal: (q) => ({ alpha: Math.exp(q.u), beta: q.k / g, L0: q.L0 }),
    fromOriginal: (p) => ({ u: Math.log(p.alpha), k: p.beta * g, L0: p.L0 }),
  };
}

export const exponentialForm: CurveForm<number> = {
  name: 'exponential',
  formula: 'L(C) = α·e^(−β·C) + L0',
  params: ['alpha', 'beta', 'L0'],
  predict: (p, C) => p.alpha * Math.exp(-p.beta * C) + p.L0,
  bounds: { alpha: NONNEG, beta: NONNEG, L0: NONNEG },
  validate: (xs) => checkPositive(xs, "fitting 'exponential'"),
  condition,
  starts(xs, ys) {
    const cnd = condition(xs);
    return cnd.form.starts(xs, ys).map(cnd.toOriginal);
  },
};
