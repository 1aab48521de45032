/** The shapes shared by the fitting library: curve forms, options and results. */

/** Parameter values by name. */
export type Params = Record<string, number>;

/** Box constraints per parameter; ±Infinity for an open side. */
export type Bounds = Record<string, [number, number]>;

/**
 * Well-conditioned coordinates for one data set. Raw scaling-law parameters are badly conditioned
 * (β·C^(−α) with C ≈ 1e11..1e16 makes β and α nearly collinear and β astronomically large), so a
 * form may offer an equivalent form over rescaled parameters that the optimiser works in, plus the
 * maps between the two. Both forms must predict the same values for corresponding parameters.
 */
export interface Conditioning<X> {
  form: CurveForm<X>;
  toOriginal: (q: Params) => Params;
  fromOriginal: (p: Params) => Params;
}

/** A parametric curve: named parameters, a model function, a way to make starting points. */
export interface CurveForm<X> {
  /** Short name, e.g. 'power', 'exponential', 'data-model'. */
  name: string;
  /** Human-readable, e.g. 'L(C) = β·C^(−α) + L0'. */
  formula: string;
  params: string[];
  predict(p: Params, x: X): number;
  /**
   * Several diverse starting points, best first (the fitter runs from each and keeps the lowest
   * loss). Deterministic: a grid, not random draws, so a fit depends on its seed only via the bootstrap.
   */
  starts(xs: X[], ys: number[]): Params[];
  /** Box constraints, e.g. exponents in [0, 3], L0 ≥ 0. Missing parameters are unbounded. */
  bounds?: Bounds;
  /** Throws FitError when the inputs are outside the form's domain (e.g. C ≤ 0 for a power law). */
  validate?(xs: X[]): void;
  /** Equivalent well-conditioned coordinates for this data set (see Conditioning). */
  condition?(xs: X[]): Conditioning<X>;
}

export interface FitOptions {
  /**
   * Huber threshold on residuals. 'auto' (default, also when undefined): 1.345·σ̂ with σ̂ = 1.4826·MAD
   * of the residuals of a first least-squares fit (Huber's 95%-efficiency constant), re-estimated from
   * the robust fit's residuals, floored at 1e-4 (loss units) so that exact data does not give δ = 0.
   * Infinity: plain least squares.
   */
  huberDelta?: number | 'auto';
  /** Most starting points to run Levenberg–Marquardt from (default 12). */
  starts?: number;
  /** Bootstrap resamples for the confidence intervals (default 200; 0 skips them). */
  bootstrap?: number;
  /** Seed of the starting points and the resampling (default 0): fits are deterministic. */
  seed?: number;
  /** Coverage of the percentile intervals (default 0.95). */
  confidence?: number;
  /** Extra starting points in original units (e.g. a previous fit's parameters). */
  initial?: Params[];
}

export interface FitResult<X = unknown> {
  form: string;
  formula: string;
  params: Params;
  /** Bootstrap percentile intervals; [NaN, NaN] when fewer than 2 resamples could be fitted. */
  ci: Record<string, [number, number]>;
  confidence: number;
  /** Root mean squared residual over all points (outliers included). */
  rmse: number;
  /**
   * Leave-one-out prediction RMSE: refit without each point (warm-started from this fit, same δ) and
   * predict it. The fair yardstick between forms (compareFits). NaN when no point can be left out.
   */
  looRmse: number;
  /** The leave-one-out errors y_i − ŷ_(−i), NaN where dropping point i leaves an undetermined fit. */
  looErrors: number[];
  /** The Huber loss Σρ_δ(r) that was minimised. */
  loss: number;
  huberDelta: number;
  n: number;
  /** Number of fitted parameters. */
  k: number;
  /** n·ln(RSS/n) + 2k (Gaussian likelihood up to a constant; lower is better). */
  aic: number;
  /** AIC with the small-sample correction 2k(k+1)/(n−k−1); Infinity when n ≤ k + 1. */
  aicc: number;
  r2: number;
  /** Resamples that gave a finite fit, out of `bootstrap` requested. */
  bootstrapOk: number;
  /** Bootstrap parameter sets in original units: derived quantities get CIs from these. */
  samples: Params[];
  predict(x: X): number;
  /** What was fitted, kept so that comparisons can refit (leave-one-out). */
  curve: CurveForm<X>;
  xs: X[];
  ys: number[];
}
