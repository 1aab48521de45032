/**
 * Bayesian optimisation for the sandbox's hyper-parameter search (SPEC §2 / §4): a small deterministic
 * Matérn-5/2 GP with expected improvement, in pure TypeScript (no dependencies).
 *
 * - new BayesOpt(space, { seed, initialRandom?, candidates?, xi?, minDistance? })
 *   .suggest(history) → next point (pure in space, options and history: resumable);
 *   .best(history) → lowest finite-loss trial or null;
 *   .surface(history, a, b, steps) → posterior mean/std grid over two dims for plotting.
 * - GaussianProcess / fitHyper: the GP itself (fixed hyper-parameters / maximum marginal likelihood).
 * - SearchError: bad space, options or history, with what to do about it.
 */
export { SearchError } from './errors.js';
export type { SearchDim, Trial } from './space.js';
export { BayesOpt, type BayesOptOptions } from './bayes-opt.js';
export { GaussianProcess, type GpHyper, type Posterior } from './gp.js';
export { fitHyper, type HyperFit, type HyperFitOptions } from './fit-hyper.js';
export { expectedImprovement } from './acquisition.js';
export { latinHypercube } from './lhs.js';
