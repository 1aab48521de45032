/** Sources of training batches: a fixed batch (overfitting checks) or anything with a resumable cursor. */
import { TrainError } from './errors.js';

export interface Batch {
  /** [B, T] row-major ids and next-token targets (−100 ignored). */
  inputs: Int32Array;
  targets: Int32Array;
  batch: number;
  seqLen: number;
  /** Per-row side data an objective needs (e.g. DPO's reference log-probs), keyed by name. */
  extra?: Readonly<Record<string, Float64Array>>;
}

export interface BatchSource {
  next(): Batch;
  /** JSON-serialisable cursor: restoring it continues with exactly the next batch. */
  state(): unknown;
  setState(state: unknown): void;
}

/** The same batch every step (e.g. `--overfit-batch expected.json`). */
export class FixedBatch implements BatchSource {
  private readonly batch: Batch;

  constructor(inputs: number[][], targets: number[][]) {
    if (!inputs.length || inputs.length !== targets.length)
      throw new TrainError('overfit batch: "inputs" and "targets" must be non-empty lists of equal length');
    const T = inputs[0].length;
    for (const [i, row] of [...inputs, ...targets].entries()) {
      if (!Array.isArray(row) || row.length !== T || row.some((x) => !Number.isInteger(x))) {
        throw new TrainError(
          `overfit batch: row ${i % inputs.length} must be ${T} integer ids like the first`,
        );
      }
    }
    this.batch = {
      inputs: Int32Array.from(inputs.flat()),
      targets: Int32Array.from(targets.flat()),
      batch: inputs.length,
      seqLen: T,
    };
  }

  static fromJson(json: unknown): FixedBatch {
    const j = json as { inputs?: number[][]; targets?: number[][] };
    if (!j || !Array.isArray(j.inputs) || !Array.isArray(j.targets)) {
      throw new TrainError('overfit batch file must be JSON with "inputs" and "targets" ([B][T] ids)');
    }
    return new FixedBatch(j.inputs, j.targets);
  }

  next(): Batch {
    return this.batch;
  }

  state(): unknown {
    return null;
  }

  setState(): void {}
}
