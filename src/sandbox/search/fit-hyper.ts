/**
 * GP hyper-parameters by maximising the log marginal likelihood (type-II maximum likelihood).
 *
 * The signal variance is profiled out analytically: with K = s²·C(ℓ, g), C = M + g·I, the likelihood
 * is maximised over s² at s² = yᵀC⁻¹y / n, so the numerical search runs only over the d log length
 * scales and the log noise ratio g = σn²/s². That removes one dimension and keeps suggest() fast.
 * A few seeded restarts of a compass search guard against the likelihood's local optima.
 */
import { matern52 } from './kernel.js';
import { cholesky } from './linalg.js';
import { patternSearch } from './pattern-search.js';
import { Prng } from './prng.js';
import type { GpHyper } from './gp.js';

/** Bounds in unit-cube units: below 0.01 the GP would model bumps finer than any sensible grid. */
export const LENGTH_SCALE_BOUNDS: [number, number] = [0.01, 20];
export const NOISE_RATIO_BOUNDS: [number, number] = [1e-6, 1];
const SIGNAL_VAR_BOUNDS: [number, number] = [1e-3, 1e3];

export interface HyperFitOptions {
  seed: number;
  /** Total starts (the first is a fixed, sensible default). */
  restarts?: number;
  /** Likelihood evaluations per start. */
  maxEvals?: number;
}

export interface HyperFit extends GpHyper {
  logMarginalLikelihood: number;
}

/** Squared coordinate differences of every pair, per dimension, computed once for all evaluations. */
function pairDiffs(xs: number[][]): Float64Array {
  const n = xs.length;
  const d = xs[0].length;
  const out = new Float64Array(((n * (n - 1)) / 2) * d);
  let p = 0;
  for (let i = 1; i < n; i++)
    for (let j = 0; j < i; j++)
      for (let k = 0; k < d; k++) {
        const t = xs[i][k] - xs[j][k];
        out[p++] = t * t;
      }
  return out;
}

export function fitHyper(xs: number[][], ys: number[], opts: HyperFitOptions): HyperFit {
  const n = xs.length;
  const d = xs[0].length;
  const diffs = pairDiffs(xs);
  const C = new Float64Array(n * n);
  const invLs2 = new Float64Array(d);

  /** Profiled log likelihood at θ = [log ℓ_1..d, log g]; also returns the optimal s². */
  const evaluate = (theta: number[]): { lml: number; s2: number } => {
    for (let k = 0; k < d; k++) invLs2[k] = Math.exp(-2 * theta[k]);
    const g = Math.exp(theta[d]);
    let p = 0;
    for (let i = 0; i < n; i++) {
      C[i * n + i] = 1 + g;
      for (let j = 0; j < i; j++) {
        let r2 = 0;
        for (let k = 0; k < d; k++) r2 += diffs[p++] * invLs2[k];
        C[i * n + j] = matern52(Math.sqrt(r2));
      }
    }
    const L = cholesky(C, n); // reads only the lower triangle
    if (!L) return { lml: -Infinity, s2: 1 };
    let q = 0; // yᵀC⁻¹y = |L⁻¹y|², by forward substitution
    let logDet = 0;
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = ys[i];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * z[k];
      z[i] = s / L[i * n + i];
      q += z[i] * z[i];
      logDet += Math.log(L[i * n + i]);
    }
    const s2 = Math.min(SIGNAL_VAR_BOUNDS[1], Math.max(SIGNAL_VAR_BOUNDS[0], q / n));
    const lml = -0.5 * (q / s2) - 0.5 * n * Math.log(s2) - logDet - 0.5 * n * Math.log(2 * Math.PI);
    return { lml: Number.isFinite(lml) ? lml : -Infinity, s2 };
  };

  const lo = [...Array<number>(d).fill(Math.log(LENGTH_SCALE_BOUNDS[0])), Math.log(NOISE_RATIO_BOUNDS[0])];
  const hi = [...Array<number>(d).fill(Math.log(LENGTH_SCALE_BOUNDS[1])), Math.log(NOISE_RATIO_BOUNDS[1])];
  const rng = new Prng(opts.seed);
  const restarts = Math.max(1, opts.restarts ?? 3);
  let best: { x: number[]; fx: number } | null = null;
  for (let r = 0; r < restarts; r++) {
    const x0 =
      r === 0
        ? [...Array<number>(d).fill(Math.log(0.3)), Math.log(1e-3)]
        : lo.map((l, j) => l + rng.next() * (hi[j] - l));
    const res = patternSearch((t) => evaluate(t).lml, x0, lo, hi, {
      step: 1,
      minStep: 0.05,
      maxEvals: opts.maxEvals ?? 120,
    });
    if (!best || res.fx > best.fx) best = res;
  }
  const theta = best!.x;
  const { lml, s2 } = evaluate(theta);
  return {
    lengthScales: theta.slice(0, d).map(Math.exp),
    signalVar: s2,
    noiseVar: Math.exp(theta[d]) * s2,
    logMarginalLikelihood: lml,
  };
}
