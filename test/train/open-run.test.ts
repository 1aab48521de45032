/**
 * Opening runs one way (train/run.ts): the data rule (a branch keeps its parent's cursor only on the same
 * data), `minicpm train --branch-decay-from` onto another mixture, and the demo's recipe (stable phase, then
 * a decay branched onto the decay mixture) going through the same function.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import { trainCommand } from '../../src/cli/train-command.js';
import { ByteEncoder } from '../../src/data/byte-encoder.js';
import type { LoaderState } from '../../src/data/loader.js';
import { prepareMixture } from '../../src/data/shards/prepare.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { Rng, setBackend } from '../../src/tensor/index.js';
import { checkpointAt, loadCheckpoint, readTrainerState } from '../../src/train/checkpoint.js';
import { TrainError } from '../../src/train/errors.js';
import { readMetrics } from '../../src/train/metrics.js';
import { ADAMW_DEFAULTS } from '../../src/train/optimizer.js';
import { decayPhase, decayRunOf, stablePhase, stableRunOf, type WsdRecipe } from '../../src/train/recipe.js';
import * as runModule from '../../src/train/run.js';
import { ValidationSet } from '../../src/train/validation.js';
import { mixtureFor, smallCorpus, tempDir } from '../data/helpers.js';

vi.mock('../../src/train/run.js', { spy: true });

let shards = '';
const B = 4;

beforeAll(async () => {
  setBackend(refBackend());
  shards = tempDir();
  const corpus = smallCorpus();
  for (const m of [mixtureFor(corpus), mixtureFor(corpus, 'test-decay', { notes: 1, poems: 3 })])
    await prepareMixture({
      mixture: m,
      encoder: new ByteEncoder(),
      tokenizerPath: 'bytes',
      output: shards,
      shardTokens: 5000,
    });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  vi.spyOn(console, 'log').mockImplementation(() => {});
});

const stableFlags = (out: string) => ({
  preset: 'tiny',
  vocabSize: 259,
  data: shards,
  mixture: 'test-stable',
  seqLen: 32,
  batchSize: B,
  steps: 4,
  schedule: 'constant',
  warmupSteps: 1,
  lr: 0.01,
  out,
  report: false,
});

const cursor = (run: string) => readTrainerState(run).data as LoaderState;

describe('openRun', () => {
  it('uses one set of AdamW defaults and restores a resumed run exactly', () => {
    const model = MiniCPM.init(presetConfig('tiny', 259), new Rng(0));
    const fresh = runModule.openRun({ start: { kind: 'fresh', model }, dataId: 'x' });
    expect(fresh.opt.config).toEqual({ ...ADAMW_DEFAULTS, betas: [...ADAMW_DEFAULTS.betas] });
    expect(fresh.state).toBeUndefined();
    const over = runModule.openRun({ start: { kind: 'fresh', model }, dataId: 'x', adamw: { clip: 0 } });
    expect(over.opt.config.clip).toBe(0);
    expect(over.opt.config.eps).toBe(ADAMW_DEFAULTS.eps);
  });

  it('refuses to resume a run on other data (a branch is the way to change data)', async () => {
    const stable = tempDir();
    await trainCommand(stableFlags(stable));
    expect(() =>
      runModule.openRun({ start: { kind: 'resume', from: stable }, dataId: 'mixture:test-decay' }),
    ).toThrow(TrainError);
    const resumed = runModule.openRun({
      start: { kind: 'resume', from: stable },
      dataId: 'mixture:test-stable',
    });
    expect(resumed.state!.step).toBe(4);
    expect(resumed.opt.step).toBe(4);
  });
});

describe('minicpm train --branch-decay-from', () => {
  it('decays onto another mixture: the new mixture starts fresh, the stable run is untouched', async () => {
    const stable = tempDir();
    await trainCommand(stableFlags(stable));
    const before = fs.readFileSync(path.join(checkpointAt(stable, 4), 'model.safetensors'));
    const calls = vi.mocked(runModule.openRun).mock.calls.length;
    const decay = tempDir();
    await trainCommand({
      branchDecayFrom: checkpointAt(stable, 4),
      data: shards,
      mixture: 'test-decay',
      decaySteps: 3,
      out: decay,
      report: false,
    });
    // the command opened its run through openRun, as a branch
    const call = vi.mocked(runModule.openRun).mock.calls[calls][0];
    expect(call.start.kind).toBe('branch');
    expect(call.dataId).toBe('mixture:test-decay');
    const m = readMetrics(path.join(decay, 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([4, 5, 6]);
    expect(m[2].lr).toBeLessThan(m[0].lr);
    const state = readTrainerState(decay);
    expect(state.dataId).toBe('mixture:test-decay');
    // the decay mixture's stream from its start: 3 steps of B rows, with the decay weights
    const c = state.data as LoaderState;
    expect(c.rows).toBe(3 * B);
    expect(c.weights).toEqual({ notes: 1, poems: 3 });
    expect(fs.readFileSync(path.join(checkpointAt(stable, 4), 'model.safetensors')).equals(before)).toBe(
      true,
    );
  });

  it('decays on the same mixture by continuing the parent data stream', async () => {
    const stable = tempDir();
    await trainCommand(stableFlags(stable));
    expect(cursor(stable).rows).toBe(4 * B);
    const decay = tempDir();
    await trainCommand({ branchDecayFrom: stable, decaySteps: 2, out: decay, report: false });
    expect(cursor(decay).rows).toBe(6 * B);
    expect(readTrainerState(decay).dataId).toBe('mixture:test-stable');
  });
});

describe('the demo recipe (stable phase, then a decay on the decay mixture)', () => {
  it('branches the decay through openRun, fresh on the decay mixture, validated on the same set', async () => {
    const out = tempDir();
    const validation = ValidationSet.fromShards({
      shardsDir: shards,
      mixture: 'test-stable',
      seqLen: 32,
      batchSize: B,
      batches: 3,
    });
    const recipe: WsdRecipe = {
      out,
      shardsDir: shards,
      stableMixture: 'test-stable',
      decayMixture: 'test-decay',
      init: () => MiniCPM.init(presetConfig('tiny', 259), new Rng(0)),
      seqLen: 32,
      batchSize: B,
      stableSteps: 4,
      decaySteps: 3,
      warmupSteps: 1,
      lr: 0.01,
      seed: 0,
      saveEvery: 2,
      evalEvery: 2,
      validation,
      config: { test: true },
    };
    await stablePhase(recipe);
    const calls = vi.mocked(runModule.openRun).mock.calls.length;
    await decayPhase(recipe);
    expect(vi.mocked(runModule.openRun).mock.calls[calls][0]).toMatchObject({
      start: { kind: 'branch' },
      dataId: 'mixture:test-decay',
    });
    const decay = readTrainerState(decayRunOf(recipe));
    expect(decay.step).toBe(7);
    expect((decay.data as LoaderState).rows).toBe(3 * B);
    const fp = (run: string) =>
      (readTrainerState(run).extra?.validation as { fingerprint: string }).fingerprint;
    expect(fp(decayRunOf(recipe))).toBe(fp(stableRunOf(recipe)));
    const m = readMetrics(path.join(decayRunOf(recipe), 'metrics.jsonl'));
    expect(m.map((x) => x.phase)).toEqual(['decay', 'decay', 'decay']);
    expect(m.filter((x) => x.val_loss !== undefined).map((x) => x.step)).toEqual([5, 6]);
    // rerunning the phase recalls the finished run (a resume with nothing left to do)
    await decayPhase(recipe);
    expect(loadCheckpoint(decayRunOf(recipe)).state.step).toBe(7);
  });

  it('decays from an earlier stable checkpoint (the anytime model), into its own run folder', async () => {
    const out = tempDir();
    const recipe: WsdRecipe = {
      out,
      shardsDir: shards,
      stableMixture: 'test-stable',
      decayMixture: 'test-decay',
      init: () => MiniCPM.init(presetConfig('tiny', 259), new Rng(0)),
      seqLen: 32,
      batchSize: B,
      stableSteps: 6,
      decaySteps: 2,
      warmupSteps: 1,
      lr: 0.01,
      seed: 0,
      saveEvery: 1,
      evalEvery: 0,
      pinEvery: 2,
      config: {},
    };
    await stablePhase(recipe);
    // pinned 2, 4, 6 survive keepLast (which keeps 3 and 5 of the plain saves); 1 was pruned
    await expect(decayPhase({ ...recipe, decayFrom: 1 })).rejects.toThrow(/kept: 2, 3, 4, 5, 6/);
    const from2 = { ...recipe, decayFrom: 2 };
    await decayPhase(from2);
    expect(decayRunOf(from2)).toBe(path.join(out, 'decay-from-2'));
    const m = readMetrics(path.join(decayRunOf(from2), 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([2, 3]);
    expect(m[1].lr).toBeLessThan(m[0].lr);
    expect(readTrainerState(decayRunOf(from2)).config).toMatchObject({ branchStep: 2 });
  });
});
