/**
 * Power law of loss against compute, L(C) = β·C^(−α) + L0 (SPEC §4.4: the form MiniCPM found to fit
 * the envelope of decayed checkpoints better than an exponential).
 *
 * Conditioning: with C ≈ 1e11..1e16, β is astronomically large and nearly collinear with α. We fit
 * u = ln(β·g^(−α)) instead, g the geometric mean of C, so that e^u·(C/g)^(−α) has O(1) parameters and
 * β > 0 without a bound, and report β = e^u·g^α in original units.
 */
import { EXPONENT_BOUNDS, NONNEG } from './bounds.js';
import { FitError } from './errors.js';
import { geoMean, linearizedStarts, lnPositive, logGrid } from './starts.js';
import type { Conditioning, CurveForm, Params } from './types.js';

export function checkPositive(xs: number[], what: string): void {
  const bad = xs.findIndex((x) => !(x > 0));
  if (bad >= 0)
    throw new FitError(`${what}: x[${bad}] = ${xs[bad]} must be > 0 (compute in FLOPs); drop that point.`);
}

function condition(xs: number[]): Conditioning<number> {
  const g = geoMean(xs);
  const inner: CurveForm<number> = {
    name: 'power (conditioned)',
    formula: 'L(C) = e^u·(C/g)^(−α) + L0',
    params: ['u', 'alpha', 'L0'],
    predict: (q, C) => Math.exp(q.u) * (C / g) ** -q.alpha + q.L0,
    bounds: { alpha: EXPONENT_BOUNDS, L0: NONNEG },
    starts: (sx, sy) =>
      linearizedStarts(
        sx,
        sy,
        logGrid(0.02, 2.5, 12).map((alpha) => ({ alpha })),
        (q, C) => [(C / g) ** -q.alpha, 1],
        ['b', 'L0'],
        [true, true],
      ).map(({ b, alpha, L0 }) => ({ u: lnPositive(b, sy), alpha, L0 })),
  };
  return {
    form: inner,
    toOriginal: (q) => ({ beta: Math.exp(q.u) * g ** q.alpha, alpha: q.alpha, L0: q.L0 }),
    fromOriginal: (p) => ({ u: Math.log(p.beta) - p.alpha * Math.log(g), alpha: p.alpha, L0: p.L0 }),
  };
}

export const powerLawForm: CurveForm<number> = {
  name: 'power',
  formula: 'L(C) = β·C^(−α) + L0',
  params: ['beta', 'alpha', 'L0'],
  predict: (p: Params, C: number) => p.beta * C ** -p.alpha + p.L0,
  bounds: { beta: NONNEG, alpha: EXPONENT_BOUNDS, L0: NONNEG },
  validate: (xs) => checkPositive(xs, "fitting 'power'"),
  condition,
  starts(xs, ys) {
    const c = condition(xs);
    return c.form.starts(xs, ys).map(c.toOriginal);
  },
};
