/**
 * Zero-mean Gaussian-process regression with fixed hyper-parameters (the caller standardises y and
 * picks the hyper-parameters; see fit-hyper.ts). A small deterministic GP written here rather than a
 * dependency: the search needs only the posterior mean, variance and log marginal likelihood.
 *
 *   K = s²·M(X, X) + σn²·I = L·Lᵀ,  α = K⁻¹y
 *   mean(x*) = k*ᵀα,  var(x*) = s² − vᵀv with v = L⁻¹k*  (latent f, without the noise term)
 *   log p(y) = −½ yᵀα − Σ log L_ii − (n/2) log 2π
 */
import { SearchError } from './errors.js';
import { matern52, scaledSqDist } from './kernel.js';
import { choleskyJitter, solveLower, solveUpperT } from './linalg.js';

export interface GpHyper {
  /** One length scale per input dimension (unit-cube units). */
  lengthScales: number[];
  /** Signal variance s². */
  signalVar: number;
  /** Observation-noise variance σn². */
  noiseVar: number;
}

export interface Posterior {
  mean: number;
  /** Posterior variance of the latent function (≥ 0). */
  variance: number;
}

export class GaussianProcess {
  readonly n: number;
  readonly d: number;
  /** Diagonal jitter that Cholesky needed on top of the noise (0 when none). */
  readonly jitter: number;
  readonly logMarginalLikelihood: number;
  private readonly xs: number[][];
  private readonly invLs2: Float64Array;
  private readonly L: Float64Array;
  private readonly alpha: Float64Array;

  constructor(xs: number[][], ys: number[], readonly hyper: GpHyper) {
    const n = xs.length;
    if (n === 0 || ys.length !== n)
      throw new SearchError(`GP needs ≥ 1 point and as many ys as xs (got ${n} xs, ${ys.length} ys).`);
    const d = xs[0].length;
    if (hyper.lengthScales.length !== d || hyper.lengthScales.some((l) => !(l > 0)))
      throw new SearchError(`GP needs ${d} positive length scales, got [${hyper.lengthScales.join(', ')}].`);
    if (!(hyper.signalVar > 0) || !(hyper.noiseVar >= 0))
      throw new SearchError(`GP needs signalVar > 0 and noiseVar ≥ 0 (got ${hyper.signalVar}, ${hyper.noiseVar}).`);
    this.n = n;
    this.d = d;
    this.xs = xs;
    this.invLs2 = Float64Array.from(hyper.lengthScales, (l) => 1 / (l * l));
    const K = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      K[i * n + i] = hyper.signalVar + hyper.noiseVar;
      for (let j = 0; j < i; j++) {
        const k = hyper.signalVar * matern52(Math.sqrt(scaledSqDist(xs[i], xs[j], this.invLs2)));
        K[i * n + j] = k;
        K[j * n + i] = k;
      }
    }
    const { L, jitter } = choleskyJitter(K, n, hyper.signalVar);
    this.L = L;
    this.jitter = jitter;
    this.alpha = solveUpperT(L, n, solveLower(L, n, ys));
    let quad = 0;
    let logDet = 0;
    for (let i = 0; i < n; i++) {
      quad += ys[i] * this.alpha[i];
      logDet += Math.log(L[i * n + i]);
    }
    this.logMarginalLikelihood = -0.5 * quad - logDet - 0.5 * n * Math.log(2 * Math.PI);
  }

  predict(x: ArrayLike<number>): Posterior {
    const { n, L } = this;
    const s2 = this.hyper.signalVar;
    const ks = new Float64Array(n);
    let mean = 0;
    for (let i = 0; i < n; i++) {
      ks[i] = s2 * matern52(Math.sqrt(scaledSqDist(x, this.xs[i], this.invLs2)));
      mean += ks[i] * this.alpha[i];
    }
    // v = L⁻¹k*, accumulated in place so vᵀv costs no second pass.
    let vv = 0;
    for (let i = 0; i < n; i++) {
      const ri = i * n;
      let s = ks[i];
      for (let k = 0; k < i; k++) s -= L[ri + k] * ks[k];
      ks[i] = s / L[ri + i];
      vv += ks[i] * ks[i];
    }
    return { mean, variance: Math.max(0, s2 - vv) };
  }
}
