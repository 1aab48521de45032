/** `minicpm train`: the fixture command, exact resume, branch decay, and kill-safety of checkpoints. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import { trainCommand } from '../../src/cli/train-command.js';
import { setBackend } from '../../src/tensor/index.js';
import { readMetrics } from '../../src/train/metrics.js';

const F = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpm/tiny-mha');
const have = fs.existsSync(F);
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-train-'));

const fixtureFlags = {
  init: F,
  overfitBatch: path.join(F, 'expected.json'),
  lr: 0.02,
  schedule: 'wsd',
  warmupSteps: 2,
  decayStart: 6,
  decay: 'exp',
  halfLife: 2,
  weightDecay: 0.1,
  clip: 1.0,
  betas: [0.9, 0.95],
  eps: 1e-8,
  report: false,
};

describe.skipIf(!have)('minicpm train', () => {
  it('reproduces the fixture losses and writes metrics.jsonl', async () => {
    setBackend(refBackend());
    const out = tmp();
    await trainCommand({ ...fixtureFlags, steps: 10, out, report: true });
    for (const f of ['index.html', 'loss.svg', 'loss.png', 'lr.png'])
      expect(fs.existsSync(path.join(out, 'report', f)), f).toBe(true);
    const expected = (
      JSON.parse(fs.readFileSync(path.join(F, 'expected.json'), 'utf8')) as { train: { losses: number[] } }
    ).train.losses;
    const m = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([...Array(10).keys()]);
    m.forEach((x, i) => expect(Math.abs(x.loss - expected[i])).toBeLessThan(1e-4));
    for (const key of ['lr', 'grad_norm', 'tokens', 'tokens_per_s']) expect(m[0]).toHaveProperty(key);
  });

  it('5 steps + resume to 10 equals 10 steps straight (to 1e-6)', async () => {
    setBackend(refBackend());
    const straight = tmp();
    await trainCommand({ ...fixtureFlags, steps: 10, out: straight });
    const split = tmp();
    await trainCommand({ ...fixtureFlags, steps: 5, out: split });
    await trainCommand({ resume: split, steps: 10, report: false });
    const a = readMetrics(path.join(straight, 'metrics.jsonl'));
    const b = readMetrics(path.join(split, 'metrics.jsonl'));
    expect(b.map((x) => x.step)).toEqual([...Array(10).keys()]);
    a.forEach((x, i) => {
      expect(Math.abs(x.loss - b[i].loss)).toBeLessThan(1e-6);
      expect(x.lr).toBe(b[i].lr);
    });
  });

  it('branches a decay run from a stable checkpoint without touching it', async () => {
    setBackend(refBackend());
    const stable = tmp();
    await trainCommand({ ...fixtureFlags, schedule: 'constant', steps: 4, out: stable });
    const before = fs.readFileSync(path.join(stable, 'checkpoints', 'step-00000004', 'model.safetensors'));
    const decay = tmp();
    await trainCommand({
      branchDecayFrom: stable,
      decaySteps: 3,
      decay: 'linear',
      out: decay,
      report: false,
    });
    const m = readMetrics(path.join(decay, 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([4, 5, 6]);
    expect(m[0].lr).toBeCloseTo(0.02, 12);
    expect(m[2].lr).toBeLessThan(m[0].lr);
    expect(
      fs.readFileSync(path.join(stable, 'checkpoints', 'step-00000004', 'model.safetensors')).equals(before),
    ).toBe(true);
  });

  it('a half-written checkpoint (killed mid-save) leaves the previous one as latest', async () => {
    setBackend(refBackend());
    const out = tmp();
    await trainCommand({ ...fixtureFlags, steps: 3, out });
    // Simulate a kill during the next save: a temp folder exists, latest still names step 3.
    fs.mkdirSync(path.join(out, 'checkpoints', 'step-00000004.tmp-99999'));
    fs.writeFileSync(
      path.join(out, 'checkpoints', 'step-00000004.tmp-99999', 'model.safetensors'),
      'partial',
    );
    await trainCommand({ resume: out, steps: 5, report: false });
    const m = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe.skipIf(!have)('divergence', () => {
  it('a diverging run stops with a clear message and keeps the last good checkpoint', async () => {
    setBackend(refBackend());
    const out = tmp();
    await trainCommand({ ...fixtureFlags, steps: 2, out });
    const good = fs.readFileSync(path.join(out, 'checkpoints', 'step-00000002', 'model.safetensors'));
    // An absurd learning rate without clipping blows the loss up within a few steps.
    await expect(
      trainCommand({
        resume: out,
        steps: 40,
        lr: 1e4,
        clip: 0,
        schedule: 'constant',
        warmupSteps: 0,
        saveEvery: 100,
      }),
    ).rejects.toThrow(/loss (became|spiked)[\s\S]*last good checkpoint is kept/);
    const latest = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'latest.json'), 'utf8')) as {
      name: string;
    };
    expect(latest.name).toBe('step-00000002');
    expect(
      fs.readFileSync(path.join(out, 'checkpoints', 'step-00000002', 'model.safetensors')).equals(good),
    ).toBe(true);
  });
});
