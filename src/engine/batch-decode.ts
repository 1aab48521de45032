/**
 * One forward pass over several sequences packed along T (continuous batching): the linear layers see
 * one [1, N, d] batch — their weights stream from memory once for every sequence — while each
 * sequence attends over its own KV cache from its own position. Ragged: a sequence contributes exactly
 * its tokens (one when decoding, a chunk when prefilling), with no padding between them.
 *
 * Batch invariance. A sequence's output is bitwise the same whatever is batched with it:
 *  - decode passes run every linear row-exact (tensor/row-exact.ts: one GEMV per row, the weights
 *    still read once for all rows), so any number of rows, one included, gives each row its
 *    single-row GEMV result — no padding;
 *  - prefill passes carry at least PREFILL_MIN_ROWS rows (padded), the blocked GEMM's class, in which
 *    a row's result does not depend on the other rows;
 *  - the LM head runs row-exact in both, on the sequences' last rows only;
 *  - attention is per sequence (its own query rows against its own cache).
 * The scheduler keeps to that; test/server/scheduler-exact.test.ts holds it to it.
 */
import type { KVCache } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { PackedAttention } from '../models/packed-attention.js';
import { concat, noGrad, rowExact, scope, slice, Tensor } from '../tensor/index.js';

/** Rows of a prefill pass (padded up to): the blocked GEMM's class. */
export const PREFILL_MIN_ROWS = 5;
/** Sequences per decode pass (more run in further passes). */
export const DECODE_GROUP = 32;

export interface PackedSequence {
  /** Batch-1 cache; its length is the position of the sequence's first token in this pass. */
  cache: KVCache;
  tokens: readonly number[];
}

/** A decode pass: one token per sequence, every linear row-exact, no padding. */
export function decodeLogits(model: MiniCPM, seqs: readonly PackedSequence[]): Float32Array[] {
  return rowExact(() => packedLastLogits(model, seqs, 1));
}

/** A prefill pass padded to `minRows` (at least PREFILL_MIN_ROWS) rows; the head row-exact. */
export function prefillLogits(
  model: MiniCPM,
  seqs: readonly PackedSequence[],
  minRows: number,
): Float32Array[] {
  return packedLastLogits(model, seqs, Math.max(PREFILL_MIN_ROWS, minRows));
}

/**
 * Runs the sequences' tokens through the model (appending to their caches) and returns the logits of
 * each sequence's last token. The pass is padded to `minRows` rows (pad rows attend to nothing and
 * their outputs are dropped).
 */
function packedLastLogits(model: MiniCPM, seqs: readonly PackedSequence[], minRows: number): Float32Array[] {
  const c = model.config;
  const starts: number[] = [];
  const ids: number[] = [];
  let positions = 0;
  for (const s of seqs) {
    if (s.tokens.length === 0) throw new RangeError('a packed sequence needs at least one token');
    starts.push(ids.length);
    ids.push(...s.tokens);
    positions = Math.max(positions, s.cache.length + s.tokens.length);
  }
  const rows = ids.length;
  while (ids.length < minRows) ids.push(ids[ids.length - 1]);
  const packed: PackedAttention = {
    positions,
    attend(layer, q, k, v, rope) {
      const outs = seqs.map((s, i) => {
        const [a, b] = [starts[i], starts[i] + s.tokens.length];
        const pos = s.cache.length;
        const [qs, ks] = [rope(slice(q, 1, a, b), pos), rope(slice(k, 1, a, b), pos)];
        return s.cache.attend(layer, qs, ks, slice(v, 1, a, b), { causal: true, qOffset: pos });
      });
      if (ids.length > rows) outs.push(Tensor.zeros([1, ids.length - rows, c.numHeads, c.headDim]));
      return outs.length === 1 ? outs[0] : concat(outs, 1);
    },
  };
  return noGrad(() =>
    scope(() => {
      const h = model.hidden(
        Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32'),
        undefined,
        undefined,
        packed,
      );
      for (const s of seqs) s.cache.advance(s.tokens.length);
      const last = seqs.map((s, i) => starts[i] + s.tokens.length - 1);
      const rows =
        last.length === 1
          ? slice(h, 1, last[0], last[0] + 1)
          : concat(
              last.map((r) => slice(h, 1, r, r + 1)),
              1,
            );
      const logits = rowExact(() => model.logitsFromHidden(rows)); // (1, S, V)
      const V = logits.shape[2];
      const f = logits.data as Float32Array; // a linear's output: contiguous
      return seqs.map((_, i) => f.slice(logits.offset + i * V, logits.offset + (i + 1) * V));
    }),
  );
}
