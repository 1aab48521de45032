/**
 * Scaling-law fitting for the sandbox studies (SPEC §4).
 *
 * - fitCurve(form, xs, ys, opts) → FitResult: robust (Huber) Levenberg–Marquardt with bounds, several
 *   starts, and bootstrap percentile intervals; deterministic given opts.seed.
 * - Forms: powerLawForm  L(C) = β·C^(−α) + L0 (params beta, alpha, L0);
 *          exponentialForm  L(C) = α·e^(−β·C) + L0 (params alpha, beta, L0);
 *          dataModelForm  L(N, D) = C_N·N^(−α) + C_D·D^(−β) + L0 (x = {N, D}; params CN, alpha, CD, beta, L0).
 *   Each fits in well-conditioned internal coordinates and reports parameters in original units.
 * - logLogLine(xs, ys) → { a, b, ci, r2 } for y = a / x^b (bs_opt = 1.21e9 / L^6.24).
 * - chinchillaOptimum(dataModelFit, C) → N_opt, D_opt, K, K², η, tokens per parameter, minimum loss.
 * - compareFits(a, b) → which fit is better by leave-one-out error, with AIC and RMSE beside it.
 * - FitError: degenerate input (too few points, non-finite values, all-equal x, outside the domain).
 */
export { FitError } from './errors.js';
export type { Bounds, Conditioning, CurveForm, FitOptions, FitResult, Params } from './types.js';
export { fitCurve, fitSummary, FIT_DEFAULTS } from './fit-curve.js';
export { powerLawForm } from './power-law.js';
export { exponentialForm } from './exponential.js';
export { dataModelForm, type ModelData } from './data-model.js';
export { logLogLine, type LogLogFit, type LogLogOptions } from './log-log-line.js';
export { chinchillaOptimum, type ChinchillaOptimum } from './chinchilla.js';
export { compareFits, leaveOneOut, type FitComparison, type LeaveOneOut } from './compare.js';
