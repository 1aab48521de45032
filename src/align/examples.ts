/**
 * Rendered training examples and the batches made of them. An example is a token sequence with a mask
 * over it (1: the model is trained to produce this token); a batch pads its rows on the right to the
 * longest one, with targets −100 wherever the mask is 0 or the row has ended.
 */
import type { Batch, BatchSource } from '../train/batches.js';
import { AlignError } from './errors.js';

export interface Example {
  ids: Int32Array;
  /** 1 where ids[i] is supervised (predicted from ids[..i]). */
  mask: Uint8Array;
}

/**
 * Keeps at most `seqLen + 1` ids (inputs and targets are that sequence shifted by one). Null when no
 * supervised token is left, e.g. a prompt longer than the limit.
 */
export function clipExample(ids: readonly number[], mask: readonly number[], seqLen: number): Example | null {
  const n = Math.min(ids.length, seqLen + 1);
  const m = Uint8Array.from(mask.slice(0, n));
  if (n < 2 || !m.subarray(1).some((x) => x === 1)) return null;
  return { ids: Int32Array.from(ids.slice(0, n)), mask: m };
}

/** Supervised tokens of an example (its targets that are not ignored). */
export const supervisedCount = (e: Example): number => e.mask.subarray(1).reduce((a, b) => a + b, 0);

/** Batch lengths are rounded up to this: a few shapes recur, so the buffer pool can reuse them. */
export const PAD_MULTIPLE = 16;

/**
 * Rows padded to the longest (rounded up to PAD_MULTIPLE): inputs ids[0..n−2] (then padId), targets
 * ids[t+1] where mask[t+1] = 1, −100 elsewhere.
 */
export function padBatch(rows: readonly Example[], padId: number): Batch {
  if (!rows.length) throw new AlignError('a batch needs at least one example');
  const longest = Math.max(...rows.map((r) => r.ids.length - 1));
  const T = Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE;
  const inputs = new Int32Array(rows.length * T).fill(padId);
  const targets = new Int32Array(rows.length * T).fill(-100);
  rows.forEach((r, b) => {
    for (let t = 0; t + 1 < r.ids.length; t++) {
      inputs[b * T + t] = r.ids[t];
      if (r.mask[t + 1]) targets[b * T + t] = r.ids[t + 1];
    }
  });
  return { inputs, targets, batch: rows.length, seqLen: T };
}

/**
 * The order examples are visited in: epoch after epoch, each a seeded shuffle (Fisher–Yates over a
 * xorshift stream), so that a cursor (examples consumed) is all a resume needs.
 */
export class EpochOrder {
  private epoch = -1;
  private perm: Uint32Array = new Uint32Array(0);

  constructor(
    readonly size: number,
    private readonly seed: number,
  ) {
    if (size < 1) throw new AlignError('no training examples left after rendering and clipping');
  }

  /** The example at position `k` of the endless stream. */
  at(k: number): number {
    const e = Math.floor(k / this.size);
    if (e !== this.epoch) this.shuffle(e);
    return this.perm[k % this.size];
  }

  private shuffle(epoch: number): void {
    let s = (this.seed * 0x9e3779b1 + epoch * 0x85ebca6b + 1) >>> 0 || 1;
    const next = () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s;
    };
    const p = new Uint32Array(this.size);
    for (let i = 0; i < p.length; i++) p[i] = i;
    for (let i = p.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    this.perm = p;
    this.epoch = epoch;
  }
}

/**
 * Batches drawn in EpochOrder. The number of items consumed is the whole resumable state; subclasses
 * turn the drawn indices into a batch.
 */
export abstract class ShuffledBatches implements BatchSource {
  private readonly order: EpochOrder;
  protected consumed = 0;

  constructor(
    readonly size: number,
    protected readonly batchSize: number,
    seed: number,
    /** "an SFT", "a DPO": names the cursor in a resume error. */
    private readonly kind: string,
  ) {
    if (!(batchSize >= 1)) throw new AlignError(`batch size must be at least 1, got ${batchSize}`);
    this.order = new EpochOrder(size, seed);
  }

  abstract next(): Batch;

  /** The indices of the next batch's items. */
  protected take(): number[] {
    const index = Array.from({ length: this.batchSize }, (_, i) => this.order.at(this.consumed + i));
    this.consumed += this.batchSize;
    return index;
  }

  state(): unknown {
    return { consumed: this.consumed };
  }

  setState(state: unknown): void {
    const c = (state as { consumed?: unknown } | null)?.consumed;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0)
      throw new AlignError(`checkpoint data cursor is not ${this.kind} cursor: resume with the same command`);
    this.consumed = c;
  }
}

/**
 * Held-out examples cut into batches once, each example at most once and in file order (a validation
 * set: every evaluation scores exactly these batches). `maxBatches` > 0 keeps only the first ones.
 */
export function heldOutBatches(
  examples: readonly Example[],
  batchSize: number,
  padId: number,
  maxBatches = 0,
): Batch[] {
  if (!examples.length) throw new AlignError('the evaluation data holds no usable example');
  if (!(batchSize >= 1)) throw new AlignError(`batch size must be at least 1, got ${batchSize}`);
  const out: Batch[] = [];
  for (let i = 0; i < examples.length && (maxBatches <= 0 || out.length < maxBatches); i += batchSize)
    out.push(padBatch(examples.slice(i, i + batchSize), padId));
  return out;
}
