/**
 * Direct preference optimisation losses (SPEC §7). With policy π and frozen reference π_ref,
 *   h = [log π(y_w|x) − log π_ref(y_w|x)] − [log π(y_l|x) − log π_ref(y_l|x)]
 * sigmoid: −(1−ε)·log σ(βh) − ε·log σ(−βh) (ε = label smoothing; ε = 0 is the DPO paper's loss),
 * hinge: relu(1 − βh), IPO: (h − 1/(2β))² on length-averaged log-probs. Means over the pairs.
 */
import {
  addScalar,
  compare,
  log,
  maximum,
  mean,
  mulScalar,
  neg,
  relu,
  sigmoid,
  square,
  sub,
  Tensor,
  where,
} from '../tensor/index.js';
import { AlignError } from './errors.js';

export type DpoLossKind = 'sigmoid' | 'hinge' | 'ipo';

export interface DpoOptions {
  beta: number;
  loss: DpoLossKind;
  /** ε of the sigmoid loss (conservative DPO); 0 by default. */
  labelSmoothing?: number;
}

export function checkDpoOptions(o: DpoOptions): void {
  if (!(o.beta > 0)) throw new AlignError(`--beta must be positive, got ${o.beta}`);
  if (!['sigmoid', 'hinge', 'ipo'].includes(o.loss))
    throw new AlignError(`--loss must be sigmoid, hinge or ipo, got "${String(o.loss)}"`);
  const e = o.labelSmoothing ?? 0;
  if (!(e >= 0 && e < 0.5)) throw new AlignError(`--label-smoothing must be in [0, 0.5), got ${e}`);
  if (e > 0 && o.loss !== 'sigmoid')
    throw new AlignError('--label-smoothing applies to the sigmoid loss only');
}

/**
 * log σ(z), smooth everywhere. DPO starts with the policy equal to its reference, so every z is exactly 0
 * at the first step: a form built from relu/abs would have a zero subgradient there and never move. For
 * z ≤ −30, log σ(z) = z to within e^−30, which keeps log(σ) from underflowing to −∞.
 */
export function logSigmoid(z: Tensor): Tensor {
  const floor = Tensor.full(z.shape, -30, z.dtype);
  return where(compare('gt', z, floor), log(sigmoid(maximum(z, floor))), z);
}

/**
 * The loss from policy log-probs (tensors [P]) and reference log-probs (numbers), already summed or
 * length-averaged as the loss kind requires.
 */
export function dpoLoss(
  policyChosen: Tensor,
  policyRejected: Tensor,
  refChosen: Tensor,
  refRejected: Tensor,
  o: DpoOptions,
): Tensor {
  const h = sub(sub(policyChosen, refChosen), sub(policyRejected, refRejected));
  if (o.loss === 'hinge') return mean(relu(addScalar(mulScalar(h, -o.beta), 1)));
  if (o.loss === 'ipo') return mean(square(addScalar(h, -1 / (2 * o.beta))));
  const e = o.labelSmoothing ?? 0;
  const bh = mulScalar(h, o.beta);
  const win = mulScalar(logSigmoid(bh), -(1 - e));
  return mean(e > 0 ? sub(win, mulScalar(logSigmoid(neg(bh)), e)) : win);
}

/** The same losses on plain numbers: the closed form the tensor version is tested against. */
export function dpoLossValue(
  pc: readonly number[],
  pr: readonly number[],
  rc: readonly number[],
  rr: readonly number[],
  o: DpoOptions,
): number {
  const logSig = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));
  const e = o.labelSmoothing ?? 0;
  let total = 0;
  pc.forEach((_, i) => {
    const h = pc[i] - rc[i] - (pr[i] - rr[i]);
    if (o.loss === 'hinge') total += Math.max(0, 1 - o.beta * h);
    else if (o.loss === 'ipo') total += (h - 1 / (2 * o.beta)) ** 2;
    else total += -(1 - e) * logSig(o.beta * h) - e * logSig(-o.beta * h);
  });
  return total / pc.length;
}
