import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByteEncoder } from '../../src/data/byte-encoder.js';
import { prepareMixture } from '../../src/data/shards/prepare.js';
import '../../src/index.js';
import { FixedEvalSet } from '../../src/sandbox/eval-set.js';
import { microModel } from '../../src/sandbox/micro-model.js';
import { Registry, RegistryError } from '../../src/sandbox/registry.js';
import {
  executeRun,
  RunInterrupted,
  runDirOf,
  type RunContext,
  type RunSpec,
} from '../../src/sandbox/runner.js';
import { decayFrom, stable, wsd } from '../../src/sandbox/studies/common.js';
import { mixtureFor, smallCorpus, tempDir } from '../data/helpers.js';

let shards = '';

beforeAll(async () => {
  shards = tempDir();
  await prepareMixture({
    mixture: mixtureFor(smallCorpus()),
    encoder: new ByteEncoder(),
    tokenizerPath: 'bytes',
    output: shards,
    shardTokens: 5000,
  });
});

function context(dir: string, study = 's', signal?: AbortSignal): RunContext {
  const registry = new Registry(path.join(dir, 'registry.sqlite'));
  registry.openStudy(study, 'test', {});
  return {
    registry,
    study,
    dir: path.join(dir, study),
    shardsDir: shards,
    tokenizerDir: '',
    vocabSize: 259,
    evalSet: FixedEvalSet.fromShards({
      shardsDir: shards,
      mixture: 'test-stable',
      seqLen: 32,
      batchSize: 4,
      batches: 2,
    }),
    microBatch: 4,
    log: () => {},
    signal,
  };
}

const spec = (steps: number, over: Partial<RunSpec> = {}): RunSpec => ({
  model: microModel(32, 2, { headDim: 16 }),
  schedule: wsd(0.01, steps, 0.1),
  steps,
  batchSize: 8,
  seqLen: 32,
  mixture: 'test-stable',
  dataSeed: 1,
  initSeed: 1,
  weightDecay: 0.1,
  evalEvery: 10,
  ...over,
});

describe('registry', () => {
  it('refuses to reopen a study with other options and a run with another spec', () => {
    const reg = new Registry(path.join(tempDir(), 'r.sqlite'));
    reg.openStudy('a', 'lr', { widths: [1, 2] });
    expect(() => reg.openStudy('a', 'lr', { widths: [1, 2] })).not.toThrow();
    expect(() => reg.openStudy('a', 'lr', { widths: [1, 3] })).toThrow(RegistryError);
    // a setting a newer version added extends the study (its runs are checked one by one)
    expect(reg.openStudy('a', 'lr', { widths: [1, 2], sftLr: 0.001 }).options).toEqual({
      widths: [1, 2],
      sftLr: 0.001,
    });
    expect(() => reg.openStudy('a', 'lr', { widths: [1, 2], sftLr: 0.01 })).toThrow(RegistryError);
    reg.ensureRun('a', 'r1', { lr: 1, x: { b: 1, a: 2 } }, '/x');
    // Key order does not matter; values do.
    expect(() => reg.ensureRun('a', 'r1', { x: { a: 2, b: 1 }, lr: 1 }, '/x')).not.toThrow();
    expect(() => reg.ensureRun('a', 'r1', { lr: 2 }, '/x')).toThrow(/another spec/);
    const id = reg.run('a', 'r1')!.id;
    reg.addPoints(id, [{ step: 1, tokens: 8, loss: 3, valLoss: null, lr: 0.1 }]);
    reg.addPoints(id, [{ step: 1, tokens: 8, loss: 2, valLoss: 2.5, lr: 0.1 }]);
    expect(reg.curve(id)).toEqual([{ step: 1, tokens: 8, loss: 2, valLoss: 2.5, lr: 0.1 }]);
    expect(reg.countRuns('a').pending).toBe(1);
    reg.dropStudy('a');
    expect(reg.studies()).toEqual([]);
    reg.close();
  });

  it('explains a file that is not a registry', () => {
    const f = path.join(tempDir(), 'bad.sqlite');
    fs.writeFileSync(f, 'not a database at all, just some text that is long enough to have a header');
    expect(() => new Registry(f)).toThrow(RegistryError);
  });
});

describe('executeRun', () => {
  it('trains once: a finished run is recalled from the registry, not retrained', async () => {
    const ctx = context(tempDir());
    const a = await executeRun(ctx, 'r', spec(12));
    expect(a.result.status).toBe('done');
    expect(a.result.tokens).toBe(12 * 8 * 32);
    expect(a.result.valLoss).toBeGreaterThan(0);
    expect(ctx.registry.curve(a.row.id)).toHaveLength(12);
    const b = await executeRun(ctx, 'r', spec(12));
    expect(b.result).toEqual(a.result);
    // Finished runs keep no checkpoints unless pinned.
    expect(fs.readdirSync(path.join(runDirOf(ctx, 'r'), 'checkpoints'))).toEqual([]);
  });

  it('an interrupted run resumes from its checkpoint and ends exactly like an uninterrupted one', async () => {
    const straight = await executeRun(context(tempDir()), 'r', spec(30));
    const dir = tempDir();
    const stop = new AbortController();
    const ctx = context(dir, 's', stop.signal);
    const log: string[] = [];
    ctx.log = (m) => {
      log.push(m);
      // Stop after the step-25 checkpoint (saveEvery = 25 for a 30-step run).
      if (m.includes('step 27/')) stop.abort();
    };
    await expect(executeRun(ctx, 'r', spec(30))).rejects.toBeInstanceOf(RunInterrupted);
    expect(ctx.registry.run('s', 'r')!.status).toBe('pending');
    const again = context(dir);
    again.log = (m) => log.push(m);
    const resumed = await executeRun(again, 'r', spec(30));
    expect(log.some((m) => m.includes('resuming at step 25'))).toBe(true);
    expect(resumed.result.valLoss).toBeCloseTo(straight.result.valLoss!, 6);
    expect(resumed.result.trainLoss).toBeCloseTo(straight.result.trainLoss, 6);
  });

  it('a decay branches off the pinned stable checkpoint and continues its data stream', async () => {
    const ctx = context(tempDir());
    await executeRun(ctx, 'stable', spec(20, { schedule: stable(0.01, 2), keepSteps: [15] }));
    const b = await executeRun(
      ctx,
      'decay',
      spec(20, { schedule: decayFrom(0.01, 2, 15, 5), branch: { from: 'stable', step: 15 } }),
    );
    const curve = ctx.registry.curve(b.row.id);
    expect(curve.map((p) => p.step)).toEqual([16, 17, 18, 19, 20]);
    // Step 16 of the branch is step 16 of the stable run (same weights, batch and LR: the decay
    // factor starts at 1); from step 17 on the LR decays.
    const parent = ctx.registry.curve(ctx.registry.run('s', 'stable')!.id);
    expect(curve[0].loss).toBe(parent[15].loss);
    expect(curve[1].lr).toBeLessThan(parent[16].lr);
    expect(fs.existsSync(path.join(runDirOf(ctx, 'stable'), 'checkpoints', 'step-00000015'))).toBe(true);
    await expect(
      executeRun(ctx, 'orphan', spec(20, { branch: { from: 'stable', step: 7 } })),
    ).rejects.toThrow(/checkpoint is missing/);
  });
});
