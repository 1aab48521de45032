/**
 * DPO on preference pairs (SPEC §5.4, §7). The reference model is the policy as training starts (the SFT
 * model), so its log-probs are computed once, before the first update, and saved with the run: no second
 * model in memory, and a resumed run scores against the same reference.
 */
import type { MiniCPM } from '../models/minicpm.js';
import { div, noGrad, scope, slice, Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { Batch } from '../train/batches.js';
import type { Objective } from '../train/trainer.js';
import { renderAnswer, type ChatFormat } from './chat-format.js';
import { checkDpoOptions, dpoLoss, type DpoOptions } from './dpo-loss.js';
import { AlignError } from './errors.js';
import { clipExample, padBatch, ShuffledBatches, type Example } from './examples.js';
import { sequenceLogProbs } from './logprobs.js';
import type { PreferencePair } from './records.js';

export interface PairExample {
  chosen: Example;
  rejected: Example;
}

/** Summed log-probs of every pair's answers under the reference model. */
export interface ReferenceLogProbs {
  chosen: Float64Array;
  rejected: Float64Array;
}

export function dpoExamples(
  tok: Tokenizer,
  format: ChatFormat,
  pairs: readonly PreferencePair[],
  seqLen: number,
): { pairs: PairExample[]; dropped: number } {
  const out: PairExample[] = [];
  let dropped = 0;
  for (const p of pairs) {
    const c = renderAnswer(tok, format, p.prompt, p.chosen);
    const r = renderAnswer(tok, format, p.prompt, p.rejected);
    const chosen = clipExample(c.ids, c.mask, seqLen);
    const rejected = clipExample(r.ids, r.mask, seqLen);
    if (chosen && rejected) out.push({ chosen, rejected });
    else dropped++;
  }
  return { pairs: out, dropped };
}

/** A batch of pairs: rows 0..P−1 the chosen answers, P..2P−1 the rejected ones, in the same order. */
function pairBatch(
  pairs: readonly PairExample[],
  index: readonly number[],
  ref: ReferenceLogProbs | null,
  padId: number,
): Batch {
  const b = padBatch([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], padId);
  if (!ref) return b;
  return {
    ...b,
    extra: {
      refChosen: Float64Array.from(index, (i) => ref.chosen[i]),
      refRejected: Float64Array.from(index, (i) => ref.rejected[i]),
    },
  };
}

/** Reference log-probs of every pair, in order, without gradients. */
export function referenceLogProbs(
  model: MiniCPM,
  pairs: readonly PairExample[],
  batchSize: number,
  padId: number,
  onProgress?: (done: number) => void,
): ReferenceLogProbs {
  const ref: ReferenceLogProbs = {
    chosen: new Float64Array(pairs.length),
    rejected: new Float64Array(pairs.length),
  };
  for (let i = 0; i < pairs.length; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, pairs.length - i) }, (_, k) => i + k);
    const sums = noGrad(() =>
      scope(() =>
        sequenceLogProbs(
          model,
          pairBatch(
            idx.map((k) => pairs[k]),
            idx,
            null,
            padId,
          ),
        ).sum.toArray(),
      ),
    );
    idx.forEach((k, j) => {
      ref.chosen[k] = sums[j];
      ref.rejected[k] = sums[idx.length + j];
    });
    onProgress?.(i + idx.length);
  }
  return ref;
}

/** Shuffled batches of pairs with their reference log-probs; the cursor is the number of pairs consumed. */
export class DpoBatches extends ShuffledBatches {
  constructor(
    private readonly pairs: readonly PairExample[],
    private readonly ref: ReferenceLogProbs,
    batchSize: number,
    seed: number,
    private readonly padId: number,
  ) {
    super(pairs.length, batchSize, seed, 'a DPO');
    if (ref.chosen.length !== pairs.length || ref.rejected.length !== pairs.length)
      throw new AlignError(
        `reference log-probs cover ${ref.chosen.length} pairs, the data has ${pairs.length}`,
      );
  }

  next(): Batch {
    const index = this.take();
    return pairBatch(
      index.map((i) => this.pairs[i]),
      index,
      this.ref,
      this.padId,
    );
  }
}

/** Held-out pairs cut into batches once (each pair at most once, in order), with their reference log-probs. */
export function heldOutPairBatches(
  pairs: readonly PairExample[],
  ref: ReferenceLogProbs,
  batchSize: number,
  padId: number,
  maxBatches = 0,
): Batch[] {
  if (!pairs.length) throw new AlignError('the evaluation data holds no usable preference pair');
  if (ref.chosen.length !== pairs.length)
    throw new AlignError(
      `reference log-probs cover ${ref.chosen.length} pairs, the data has ${pairs.length}`,
    );
  const out: Batch[] = [];
  for (let i = 0; i < pairs.length && (maxBatches <= 0 || out.length < maxBatches); i += batchSize) {
    const index = Array.from({ length: Math.min(batchSize, pairs.length - i) }, (_, k) => i + k);
    out.push(
      pairBatch(
        index.map((k) => pairs[k]),
        index,
        ref,
        padId,
      ),
    );
  }
  return out;
}

const meanOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The DPO objective for the training loop. Statistics: implicit rewards β(log π − log π_ref) of chosen and
 * rejected answers (summed log-probs), their margin, the fraction of pairs ranked right, and the policy's
 * mean log-probs.
 */
export function dpoObjective(o: DpoOptions): Objective {
  checkDpoOptions(o);
  return (model, batch) => {
    const refC = batch.extra?.refChosen;
    const refR = batch.extra?.refRejected;
    if (!refC || !refR)
      throw new AlignError('a DPO batch needs reference log-probs (DpoBatches attaches them)');
    const P = batch.batch / 2;
    const lp = sequenceLogProbs(model, batch);
    let pc = slice(lp.sum, 0, 0, P);
    let pr = slice(lp.sum, 0, P, 2 * P);
    let rc = Tensor.from(Float32Array.from(refC), [P]);
    let rr = Tensor.from(Float32Array.from(refR), [P]);
    const sumsC = pc.toArray();
    const sumsR = pr.toArray();
    if (o.loss === 'ipo') {
      // IPO compares length-averaged log-probs
      const nc = Tensor.from(Float32Array.from(lp.counts.slice(0, P)), [P]);
      const nr = Tensor.from(Float32Array.from(lp.counts.slice(P)), [P]);
      [pc, pr, rc, rr] = [div(pc, nc), div(pr, nr), div(rc, nc), div(rr, nr)];
    }
    const loss = dpoLoss(pc, pr, rc, rr, o);
    const rewardC = sumsC.map((v, i) => o.beta * (v - refC[i]));
    const rewardR = sumsR.map((v, i) => o.beta * (v - refR[i]));
    return {
      loss,
      stats: {
        reward_chosen: meanOf(rewardC),
        reward_rejected: meanOf(rewardR),
        reward_margin: meanOf(rewardC.map((v, i) => v - rewardR[i])),
        reward_accuracy: meanOf(rewardC.map((v, i) => (v > rewardR[i] ? 1 : 0))),
        logp_chosen: meanOf(sumsC),
        logp_rejected: meanOf(sumsR),
      },
    };
  };
}
