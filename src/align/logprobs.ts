/** Per-sequence log-probabilities of the supervised tokens: what DPO compares between policy and reference. */
import type { MiniCPM } from '../models/minicpm.js';
import { neg, reshape, sequenceCrossEntropy, Tensor } from '../tensor/index.js';
import type { Batch } from '../train/batches.js';
import { AlignError } from './errors.js';

export interface SequenceLogProbs {
  /** [rows] Σ log p(target) over each row's supervised tokens (differentiable). */
  sum: Tensor;
  /** Supervised tokens per row. */
  counts: number[];
}

/** Supervised (non-ignored) targets per row of a batch. */
export function rowCounts(b: Batch): number[] {
  return Array.from({ length: b.batch }, (_, r) => {
    let n = 0;
    for (let t = 0; t < b.seqLen; t++) if (b.targets[r * b.seqLen + t] !== -100) n++;
    return n;
  });
}

/**
 * One forward pass over the batch; the per-row sums come from the fused cross-entropy kernel
 * (sequenceCrossEntropy), whose backward fills a single logits-sized gradient.
 */
export function sequenceLogProbs(model: MiniCPM, b: Batch): SequenceLogProbs {
  const counts = rowCounts(b);
  const empty = counts.findIndex((n) => n === 0);
  if (empty >= 0) throw new AlignError(`row ${empty} of the batch has no supervised token to score`);
  const ids = Tensor.from(b.inputs, [b.batch, b.seqLen], 'i32');
  const targets = Tensor.from(b.targets, [b.batch * b.seqLen], 'i32');
  const logits = reshape(model.forward(ids), [b.batch * b.seqLen, model.config.vocabSize]);
  return { sum: neg(sequenceCrossEntropy(logits, targets, b.batch)), counts };
}
