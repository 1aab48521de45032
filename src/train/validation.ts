/**
 * A fixed held-out validation set: batches drawn once and scored whole at every evaluation, so two
 * validation losses of a run differ only because the weights differ (the same tokens every time, and
 * after a resume). The standard error over its batches says how far the set's mean may be from the loss
 * on the whole held-out distribution; differences between evaluations of one run are paired (same
 * tokens) and far less noisy than that.
 */
import { createHash } from 'node:crypto';
import { PackedLoader } from '../data/loader.js';
import { bytesPerToken, readShardIndex } from '../data/shards/format.js';
import type { MiniCPM } from '../models/minicpm.js';
import { noGrad, scope, Tensor } from '../tensor/index.js';
import type { Batch } from './batches.js';
import { TrainError } from './errors.js';

/** What a micro-batch is scored on; returns the mean loss over the batch (and optional statistics). */
export type Objective = (model: MiniCPM, batch: Batch) => { loss: Tensor; stats?: Record<string, number> };

export const crossEntropyObjective: Objective = (model, batch) => ({
  loss: model.loss(
    Tensor.from(batch.inputs, [batch.batch, batch.seqLen], 'i32'),
    Tensor.from(batch.targets, [batch.batch, batch.seqLen], 'i32'),
  ),
});

export interface ValidationResult {
  /** Mean of the batch losses, each batch weighted as the set says (ValidationSet.weights). */
  loss: number;
  /** Standard error of that mean, from the spread of the batch losses (0 with one batch). */
  stderr: number;
  /** Means over batches of the objective's statistics (DPO: reward accuracy, margin). */
  stats?: Record<string, number>;
}

/** Targets a batch scores (−100 is ignored). */
function scoredTargets(b: Batch): number {
  let n = 0;
  for (const t of b.targets) if (t !== -100) n++;
  return n;
}

export class ValidationSet {
  /** Scored target tokens over the whole set. */
  readonly tokens: number;
  /** Each batch's weight in the mean: its scored targets, or its rows for per-row objectives (DPO). */
  readonly weights: readonly number[];
  private hash?: string;

  constructor(
    readonly batches: readonly Batch[],
    weighting: 'tokens' | 'rows' = 'tokens',
  ) {
    if (!batches.length) throw new TrainError('a validation set needs at least one batch');
    const scored = batches.map(scoredTargets);
    this.tokens = scored.reduce((a, b) => a + b, 0);
    this.weights = weighting === 'tokens' ? scored : batches.map((b) => b.batch);
  }

  get size(): number {
    return this.batches.length;
  }

  /** sha256 over every batch's ids and targets (and side data): equal sets, equal fingerprints. */
  get fingerprint(): string {
    if (!this.hash) {
      const h = createHash('sha256');
      for (const b of this.batches) {
        h.update(`${b.batch}x${b.seqLen};`);
        h.update(new Uint8Array(b.inputs.buffer, b.inputs.byteOffset, b.inputs.byteLength));
        h.update(new Uint8Array(b.targets.buffer, b.targets.byteOffset, b.targets.byteLength));
        for (const [k, v] of Object.entries(b.extra ?? {}).sort(([a], [c]) => a.localeCompare(c)))
          h.update(k).update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      this.hash = h.digest('hex').slice(0, 16);
    }
    return this.hash;
  }

  /** Summary saved with checkpoints; a resume checks the fingerprint against the set it rebuilt. */
  describe(): { fingerprint: string; batches: number; tokens: number } {
    return { fingerprint: this.fingerprint, batches: this.size, tokens: this.tokens };
  }

  /**
   * `batches` batches of a shard folder's validation split, cut once. Windows are visited in a seeded
   * shuffle (seed fixed, not the run's) so the set spans the whole split rather than its first
   * documents; the count is capped at the distinct windows the mixture's sources hold, so no text is
   * scored twice.
   */
  static fromShards(o: {
    shardsDir: string;
    mixture?: string | null;
    seqLen: number;
    batchSize: number;
    batches: number;
  }): ValidationSet {
    const index = readShardIndex(o.shardsDir);
    const weights = o.mixture
      ? index.mixtures[o.mixture]?.weights
      : Object.fromEntries(Object.keys(index.sources).map((n) => [n, 1]));
    let windows = 0;
    for (const [name, w] of Object.entries(weights ?? {}))
      if (w > 0 && index.sources[name])
        windows += Math.max(0, Math.floor((index.sources[name].val.tokens - 1) / o.seqLen));
    const count = Math.max(1, Math.min(o.batches, Math.floor(windows / o.batchSize)));
    // An unknown mixture or a source too short is reported by the loader itself.
    const loader = new PackedLoader({
      shardsDir: o.shardsDir,
      split: 'val',
      seqLen: o.seqLen,
      batchSize: o.batchSize,
      seed: 0x7a1,
      shuffle: true,
      mixture: o.mixture ?? undefined,
    });
    try {
      return new ValidationSet(
        Array.from({ length: count }, () => {
          const b = loader.next();
          return { inputs: b.inputs, targets: b.targets, batch: b.batch, seqLen: b.seqLen };
        }),
      );
    } finally {
      loader.close();
    }
  }
}

/** Scores every batch of the set without gradients. */
export function validate(
  model: MiniCPM,
  set: ValidationSet,
  objective: Objective = crossEntropyObjective,
): ValidationResult {
  const losses: number[] = [];
  const statSums: Record<string, number> = {};
  for (const b of set.batches) {
    losses.push(
      noGrad(() =>
        scope(() => {
          const { loss, stats } = objective(model, b);
          for (const [k, v] of Object.entries(stats ?? {})) statSums[k] = (statSums[k] ?? 0) + v;
          return loss.item();
        }),
      ),
    );
  }
  return { ...weightedMean(losses, set.weights), ...statsOf(statSums, losses.length) };
}

function statsOf(sums: Record<string, number>, n: number): { stats?: Record<string, number> } {
  const keys = Object.keys(sums);
  return keys.length ? { stats: Object.fromEntries(keys.map((k) => [k, sums[k] / n])) } : {};
}

/**
 * Mean of per-batch losses weighted by scored targets, and its standard error (ratio estimator over
 * batches: sqrt(Σ wᵢ²(xᵢ − x̄)² / (n(n−1)) ) / w̄ ), which reduces to s/√n for equal weights.
 */
export function weightedMean(xs: readonly number[], ws: readonly number[]): { loss: number; stderr: number } {
  const n = xs.length;
  const W = ws.reduce((a, b) => a + b, 0);
  if (!(W > 0)) return { loss: xs.reduce((a, b) => a + b, 0) / n, stderr: 0 };
  const mean = xs.reduce((a, x, i) => a + ws[i] * x, 0) / W;
  if (n < 2) return { loss: mean, stderr: 0 };
  const wBar = W / n;
  const ss = xs.reduce((a, x, i) => a + (ws[i] * (x - mean)) ** 2, 0);
  return { loss: mean, stderr: Math.sqrt(ss / (n * (n - 1))) / wBar };
}

/** Bytes of text per token in the validation split of a mixture's sources (all sources: null), for bits-per-byte. */
export function valBytesPerToken(shardsDir: string, mixture: string | null): number {
  const idx = readShardIndex(shardsDir);
  const m = mixture ? idx.mixtures[mixture] : undefined;
  return bytesPerToken(idx, 'val', m ? Object.keys(m.weights) : undefined);
}
