/** The fixed validation set: the same tokens at every evaluation and after a resume, with a standard error. */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import { trainCommand } from '../../src/cli/train-command.js';
import { ByteEncoder } from '../../src/data/byte-encoder.js';
import { readShardIndex } from '../../src/data/shards/format.js';
import { prepareMixture } from '../../src/data/shards/prepare.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { Rng, setBackend, Tensor } from '../../src/tensor/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { TrainError } from '../../src/train/errors.js';
import { readMetrics } from '../../src/train/metrics.js';
import { validate, ValidationSet, weightedMean } from '../../src/train/validation.js';
import { mixtureFor, smallCorpus, tempDir } from '../data/helpers.js';

let shards = '';

beforeAll(async () => {
  setBackend(refBackend());
  shards = tempDir();
  const corpus = smallCorpus();
  await prepareMixture({
    mixture: mixtureFor(corpus),
    encoder: new ByteEncoder(),
    tokenizerPath: 'bytes',
    output: shards,
    shardTokens: 5000,
  });
});

const flags = (out: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  preset: 'tiny',
  vocabSize: 259,
  data: shards,
  mixture: 'test-stable',
  seqLen: 32,
  batchSize: 4,
  evalEvery: 2,
  evalBatches: 6,
  schedule: 'constant',
  warmupSteps: 0,
  lr: 0.01,
  out,
  report: false,
  ...over,
});

describe('weightedMean', () => {
  it('is the mean with standard error s/√n for equal weights', () => {
    const xs = [2, 4, 4, 4, 5, 5, 7, 9];
    const mean = 5;
    const s = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
    const r = weightedMean(
      xs,
      xs.map(() => 10),
    );
    expect(r.loss).toBeCloseTo(mean, 12);
    expect(r.stderr).toBeCloseTo(s / Math.sqrt(xs.length), 12);
  });

  it('weights batches by their scored tokens', () => {
    // a token-weighted mean: batch 1 scores 3 tokens at loss 1, batch 2 one token at loss 5 → 8/4
    expect(weightedMean([1, 5], [3, 1]).loss).toBeCloseTo(2, 12);
    expect(weightedMean([3], [7])).toEqual({ loss: 3, stderr: 0 });
  });
});

describe('ValidationSet', () => {
  it('draws the same batches every time it is built, capped at the distinct windows of the split', () => {
    const o = { shardsDir: shards, mixture: 'test-stable', seqLen: 32, batchSize: 4, batches: 6 };
    const a = ValidationSet.fromShards(o);
    const b = ValidationSet.fromShards(o);
    expect(a.size).toBe(6);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.tokens).toBe(6 * 4 * 32);
    const other = ValidationSet.fromShards({ ...o, batches: 5 });
    expect(other.fingerprint).not.toBe(a.fingerprint);
    const idx = readShardIndex(shards);
    const windows = Object.values(idx.sources).reduce((n, s) => n + Math.floor((s.val.tokens - 1) / 32), 0);
    const huge = ValidationSet.fromShards({ ...o, batches: 1_000_000 });
    expect(huge.size).toBe(Math.floor(windows / 4));
  });

  it('scores the same weights to the same number, with a positive standard error', () => {
    const set = ValidationSet.fromShards({
      shardsDir: shards,
      mixture: 'test-stable',
      seqLen: 32,
      batchSize: 4,
      batches: 6,
    });
    const model = MiniCPM.init(presetConfig('tiny', 259), new Rng(3));
    const a = validate(model, set);
    const b = validate(model, set);
    expect(b.loss).toBe(a.loss);
    expect(b.stderr).toBe(a.stderr);
    expect(a.stderr).toBeGreaterThan(0);
    // full batches weigh alike: the plain mean of model.loss over the batches
    const each = set.batches.map((bt) =>
      model
        .loss(
          Tensor.from(bt.inputs, [bt.batch, bt.seqLen], 'i32'),
          Tensor.from(bt.targets, [bt.batch, bt.seqLen], 'i32'),
        )
        .item(),
    );
    expect(a.loss).toBeCloseTo(each.reduce((x, y) => x + y, 0) / each.length, 5);
  });
});

describe('validation in minicpm train', () => {
  it('gives the same loss at every evaluation when the weights do not move (lr 0)', async () => {
    const out = tempDir();
    await trainCommand(flags(out, { lr: 0, steps: 6 }));
    const evals = readMetrics(path.join(out, 'metrics.jsonl')).filter((m) => m.val_loss !== undefined);
    expect(evals.map((m) => m.step)).toEqual([1, 3, 5]);
    for (const m of evals) {
      expect(m.val_loss).toBe(evals[0].val_loss);
      expect(m.val_loss_se).toBeGreaterThan(0);
    }
  });

  it('evaluates a resumed run on the same batches as a straight one', async () => {
    const straight = tempDir();
    await trainCommand(flags(straight, { steps: 6 }));
    const split = tempDir();
    await trainCommand(flags(split, { steps: 4 }));
    const before = loadCheckpoint(split).state.extra?.validation as { fingerprint: string };
    await trainCommand({ resume: split, steps: 6, report: false });
    const after = loadCheckpoint(split).state.extra?.validation as { fingerprint: string };
    expect(after.fingerprint).toBe(before.fingerprint);
    const a = readMetrics(path.join(straight, 'metrics.jsonl')).filter((m) => m.val_loss !== undefined);
    const b = readMetrics(path.join(split, 'metrics.jsonl')).filter((m) => m.val_loss !== undefined);
    expect(b.map((m) => m.step)).toEqual([1, 3, 5]);
    a.forEach((m, i) => expect(Math.abs(m.val_loss! - b[i].val_loss!)).toBeLessThan(1e-6));
  });

  it('refuses to resume on another validation set', async () => {
    const out = tempDir();
    await trainCommand(flags(out, { steps: 2 }));
    await expect(trainCommand({ resume: out, steps: 4, evalBatches: 3, report: false })).rejects.toThrow(
      TrainError,
    );
    expect(fs.existsSync(path.join(out, 'checkpoints', 'step-00000002'))).toBe(true);
  });
});
