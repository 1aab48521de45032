/**
 * A fixed held-out evaluation set: the first K batches of a validation split, served in a cycle, so
 * that `evaluate(model, set, K)` scores every run of every study on exactly the same tokens.
 */
import { PackedLoader } from '../data/loader.js';
import type { Batch, BatchSource } from '../train/batches.js';

export class FixedEvalSet implements BatchSource {
  private i = 0;

  constructor(readonly batches: Batch[]) {}

  static fromShards(o: {
    shardsDir: string;
    mixture: string;
    seqLen: number;
    batchSize: number;
    batches: number;
  }): FixedEvalSet {
    const loader = new PackedLoader({
      shardsDir: o.shardsDir,
      split: 'val',
      seqLen: o.seqLen,
      batchSize: o.batchSize,
      seed: 0,
      mixture: o.mixture,
    });
    const batches = Array.from({ length: o.batches }, () => {
      const b = loader.next();
      return { inputs: b.inputs, targets: b.targets, batch: b.batch, seqLen: b.seqLen };
    });
    loader.close();
    return new FixedEvalSet(batches);
  }

  get size(): number {
    return this.batches.length;
  }

  next(): Batch {
    const b = this.batches[this.i];
    this.i = (this.i + 1) % this.batches.length;
    return b;
  }

  state(): unknown {
    return this.i;
  }

  setState(s: unknown): void {
    this.i = Number(s) % this.batches.length;
  }
}
