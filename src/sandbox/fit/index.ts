/**
 * Scaling-law fitting for the sandbox studies (SPEC §4).
 *
 * - fitCurve(form, xs, ys, opts) → FitResult: robust (Huber) Levenberg–Marquardt with bounds, several
 *   starts, leave-one-out RMSE and bootstrap percentile intervals; deterministic given opts.seed.
 * - Forms: powerLawForm  L(C) = β·C^(−α) + L0 (params beta, alpha, L0);
 *          exponentialForm  L(C) = α·e^(−β·C) + L0 (params alpha, beta, L0);
 *          dataModelForm  L(N, D) = C_N·N^(−α) + C_D·D^(−β) + L0 (x = {N, D}; params C_N, alpha, C_D, beta, L0).
 *   Each fits in well-conditioned internal coordinates and reports parameters in original units.
 * - logLogLine(xs, ys) → { a, b, ci, r2, n } for y = a / x^b (bs_opt = 1.21e9 / L^6.24).
 * - chinchillaOptimum(dataModelParams or fit, C) → K, K², η, nOpt, dOpt, tokens per parameter, loss.
 * - compareFits(a, b) → { better, reason }: lower leave-one-out RMSE wins; AIC and RMSE beside it.
 * - FitError: degenerate input (too few points, non-finite values, all-equal x, outside the domain).
 */
export { FitError } from './errors.js';
export type { Bounds, Conditioning, CurveForm, FitOptions, FitResult, Params } from './types.js';
export { fitCurve, fitSummary, FIT_DEFAULTS } from './fit-curve.js';
export { powerLawForm } from './power-law.js';
export { exponentialForm } from './exponential.js';
export { dataModelForm, type ModelData } from './data-model.js';
export { logLogLine, type LogLogFit, type LogLogOptions } from './log-log-line.js';
export { chinchillaOptimum, type ChinchillaOptimum, type DataModelLaw } from './chinchilla.js';
export { compareFits, type FitComparison } from './compare.js';
export { Prng } from './prng.js';
