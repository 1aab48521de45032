/**
 * The data–model scaling law L(N, D) = C_N·N^(−α) + C_D·D^(−β) + L0 (SPEC §4.5), x = {N, D} with N
 * non-embedding parameters and D training tokens. Parameters: C_N, alpha, C_D, beta, L0.
 *
 * Conditioning as for the power law, per axis: e^a = C_N·gN^(−α) and e^c = C_D·gD^(−β) with gN, gD
 * the geometric means of N and D (logs keep both coefficients > 0), reported back as C_N = e^a·gN^α
 * and C_D = e^c·gD^β.
 */
import { EXPONENT_BOUNDS, NONNEG } from './bounds.js';
import { FitError } from './errors.js';
import { geoMean, linearizedStarts, lnPositive, logGrid } from './starts.js';
import type { Conditioning, CurveForm } from './types.js';

export interface ModelData {
  /** Non-embedding parameters. */
  N: number;
  /** Training tokens. */
  D: number;
}

function condition(xs: ModelData[]): Conditioning<ModelData> {
  const gN = geoMean(xs.map((x) => x.N));
  const gD = geoMean(xs.map((x) => x.D));
  const lgN = Math.log(gN);
  const lgD = Math.log(gD);
  const inner: CurveForm<ModelData> = {
    name: 'data-model (conditioned)',
    formula: 'L = e^a·(N/gN)^(−α) + e^c·(D/gD)^(−β) + L0',
    params: ['a', 'alpha', 'c', 'beta', 'L0'],
    predict: (q, x) =>
      Math.exp(q.a - q.alpha * Math.log(x.N / gN)) + Math.exp(q.c - q.beta * Math.log(x.D / gD)) + q.L0,
    bounds: { alpha: EXPONENT_BOUNDS, beta: EXPONENT_BOUNDS, L0: NONNEG },
    starts(sx, sy) {
      const exps = logGrid(0.05, 1.2, 5);
      const guesses = exps.flatMap((alpha) => exps.map((beta) => ({ alpha, beta })));
      return linearizedStarts(
        sx,
        sy,
        guesses,
        (q, x) => [(x.N / gN) ** -q.alpha, (x.D / gD) ** -q.beta, 1],
        ['a', 'c', 'L0'],
        [true, true, true],
      ).map((q) => ({ ...q, a: lnPositive(q.a, sy), c: lnPositive(q.c, sy) }));
    },
  };
  return {
    form: inner,
    toOriginal: (q) => ({
      C_N: Math.exp(q.a + q.alpha * lgN),
      alpha: q.alpha,
      C_D: Math.exp(q.c + q.beta * lgD),
      beta: q.beta,
      L0: q.L0,
    }),
    fromOriginal: (p) => ({
      a: Math.log(p.C_N) - p.alpha * lgN,
      alpha: p.alpha,
      c: Math.log(p.C_D) - p.beta * lgD,
      beta: p.beta,
      L0: p.L0,
    }),
  };
}

export const dataModelForm: CurveForm<ModelData> = {
  name: 'data-model',
  formula: 'L(N, D) = C_N·N^(−α) + C_D·D^(−β) + L0',
  params: ['C_N', 'alpha', 'C_D', 'beta', 'L0'],
  predict: (p, x) => p.C_N * x.N ** -p.alpha + p.C_D * x.D ** -p.beta + p.L0,
  bounds: { C_N: NONNEG, alpha: EXPONENT_BOUNDS, C_D: NONNEG, beta: EXPONENT_BOUNDS, L0: NONNEG },
  validate(xs) {
    const what = "fitting 'data-model'";
    const bad = xs.findIndex((x) => !(x.N > 0 && x.D > 0));
    if (bad >= 0)
      throw new FitError(`${what}: point ${bad} has N = ${xs[bad].N}, D = ${xs[bad].D}; both must be > 0.`);
    for (const axis of ['N', 'D'] as const)
      if (new Set(xs.map((x) => x[axis])).size < 2)
        throw new FitError(
          `${what}: every point has the same ${axis}, so its exponent is undetermined; vary ${axis}.`,
        );
  },
  condition,
  starts(xs, ys) {
    const c = condition(xs);
    return c.form.starts(xs, ys).map(c.toOriginal);
  },
};
