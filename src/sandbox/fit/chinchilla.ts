/**
 * The compute-optimal split of a data–model law (SPEC §4.5). Minimising
 * L = C_N·N^(−α) + C_D·D^(−β) + L0 subject to C = 6·N·D gives
 *   N_opt = K·(C/6)^(β/(α+β)),  D_opt = (C/6)/N_opt = K^(−1)·(C/6)^(α/(α+β)),
 *   N_opt/D_opt = K²·(C/6)^η,  K = (α·C_N/(β·C_D))^(1/(α+β)),  η = (β−α)/(α+β).
 * (Set dL/dN = 0 along D = C/(6N): α·C_N·N^(−α) = β·C_D·D^(−β).) Computed in logarithms because
 * C_N, C_D and C span dozens of decades.
 */
import { FitError } from './errors.js';
import { percentileInterval } from './stats.js';
import type { Params } from './types.js';

export interface ChinchillaOptimum {
  K: number;
  K2: number;
  eta: number;
  /** Compute-optimal non-embedding parameters. */
  nOpt: number;
  /** Compute-optimal training tokens, C/(6·nOpt). */
  dOpt: number;
  /** D_opt / N_opt (Chinchilla: about 20; MiniCPM: about 192). */
  tokensPerParam: number;
  /** The law's loss at (N_opt, D_opt): the lowest reachable at this compute. */
  loss: number;
  /** Compute in FLOPs (C = 6·N·D). */
  C: number;
  /** N_opt / D_opt = K²·(C/6)^η. */
  ratio: number;
  /** Percentile intervals from a fit's bootstrap samples, when given a fit that has them. */
  ci?: {
    nOpt: [number, number];
    dOpt: [number, number];
    tokensPerParam: [number, number];
    loss: [number, number];
  };
}

/** A data-model fit (its bootstrap samples give intervals), or just its parameters. */
export type DataModelLaw = Params | { params: Params; samples?: Params[]; confidence?: number };

/**
 * The optimum at compute C for the parameters of dataModelForm (C_N, alpha, C_D, beta, L0). Pass a
 * FitResult instead of its params to also get bootstrap intervals of the optimum.
 */
export function chinchillaOptimum(law: DataModelLaw, C: number): ChinchillaOptimum {
  if (!(Number.isFinite(C) && C > 0))
    throw new FitError(`chinchillaOptimum: compute C = ${C} must be finite and > 0.`);
  const fit = isFit(law) ? law : { params: law };
  const best = optimum(fit.params, C);
  const samples = (fit.samples ?? []).flatMap((p) => {
    try {
      return [optimum(p, C)];
    } catch (e) {
      if (e instanceof FitError) return []; // a resample with no interior optimum
      throw e;
    }
  });
  if (samples.length < 2) return best;
  const conf = fit.confidence ?? 0.95;
  const ci = (f: (o: ChinchillaOptimum) => number) => percentileInterval(samples.map(f), conf);
  return {
    ...best,
    ci: {
      nOpt: ci((o) => o.nOpt),
      dOpt: ci((o) => o.dOpt),
      tokensPerParam: ci((o) => o.tokensPerParam),
      loss: ci((o) => o.loss),
    },
  };
}

function isFit(law: DataModelLaw): law is { params: Params; samples?: Params[]; confidence?: number } {
  return typeof law.params === 'object' && law.params !== null;
}

function optimum(p: Params, C: number): ChinchillaOptimum {
  const { C_N, alpha, C_D, beta, L0 } = p;
  for (const [name, v] of Object.entries({ C_N, alpha, C_D, beta }))
    if (!(Number.isFinite(v) && v > 0))
      throw new FitError(
        `chinchillaOptimum: ${name} = ${v}, but every one of C_N, alpha, C_D, beta must be > 0 for an ` +
          `interior optimum (the loss must fall with both N and D); check the data-model fit.`,
      );
  const s = alpha + beta;
  const lnK = (Math.log(alpha) + Math.log(C_N) - Math.log(beta) - Math.log(C_D)) / s;
  const lnC6 = Math.log(C / 6);
  const lnN = lnK + (beta / s) * lnC6;
  const lnD = lnC6 - lnN;
  return {
    K: Math.exp(lnK),
    K2: Math.exp(2 * lnK),
    eta: (beta - alpha) / s,
    nOpt: Math.exp(lnN),
    dOpt: Math.exp(lnD),
    tokensPerParam: Math.exp(lnD - lnN),
    loss: C_N * Math.exp(-alpha * lnN) + C_D * Math.exp(-beta * lnD) + (L0 ?? 0),
    C,
    ratio: Math.exp(lnN - lnD),
  };
}
