/**
 * The sandbox's held-out set: the first K batches of a validation split (in file order, seed 0), scored
 * whole at every evaluation, so every run of every study is compared on exactly the same tokens. The
 * selection is kept as it was when the registry's recorded results were made.
 */
import { PackedLoader } from '../data/loader.js';
import { ValidationSet } from '../train/validation.js';

export class FixedEvalSet extends ValidationSet {
  static override fromShards(o: {
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
    try {
      return new FixedEvalSet(
        Array.from({ length: o.batches }, () => {
          const b = loader.next();
          return { inputs: b.inputs, targets: b.targets, batch: b.batch, seqLen: b.seqLen };
        }),
      );
    } finally {
      loader.close();
    }
  }
}
