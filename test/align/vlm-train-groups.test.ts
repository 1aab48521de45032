/**
 * The image-SFT optimizer's groups: the tower at its own LR fraction (the vision-language demo's tower
 * trained from scratch), the resampler at the base LR, the language model's μP groups only when it
 * trains; and one AdamW step moves the tower by that fraction of the resampler's first-step size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageSftAdamW } from '../../src/align/vlm-train.js';
import { useBackend } from '../../src/backends/index.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { Tensor } from '../../src/tensor/index.js';
import { writeTinyVlm } from './vlm-helpers.js';

useBackend('auto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vlm-groups-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const { modelDir } = await writeTinyVlm(tmp);

describe('imageSftAdamW', () => {
  it('puts the tower in a group at visionLrScale × lr and the resampler at lr', async () => {
    const vlm = await loadMiniCPMV(modelDir);
    const names = new Map([...vlm.params].map(([n, t]) => [t, n]));
    const opt = imageSftAdamW(vlm, {}, true, false, 0.1);
    expect(opt.groups.map((g) => [g.name, g.lrScale])).toEqual([
      ['resampler (lr)', 1],
      ['vision tower (0.1 lr)', 0.1],
    ]);
    const [resampler, tower] = opt.groups.map((g) => g.params.map((t) => names.get(t)!));
    expect(tower.length).toBeGreaterThan(0);
    expect(tower.every((n) => n.startsWith('vpm.'))).toBe(true);
    expect(resampler.every((n) => n.startsWith('resampler.') && n !== 'resampler.pos_embed')).toBe(true);
    // the whole vision side, once
    const all = [...vlm.params.keys()].filter((n) => n.startsWith('vpm.') || n.startsWith('resampler.'));
    expect([...resampler, ...tower].sort()).toEqual(all.filter((n) => n !== 'resampler.pos_embed').sort());
  });

  it('keeps one vision group at scale 1 and adds the language model when it trains', async () => {
    const vlm = await loadMiniCPMV(modelDir);
    const opt = imageSftAdamW(vlm, {}, true, true, 1);
    const last = opt.groups[opt.groups.length - 1];
    expect([last.name, last.lrScale]).toEqual(['resampler and vision tower (lr)', 1]);
    expect(opt.groups.length).toBeGreaterThan(1);
  });

  it('puts the resampler at resamplerLrScale × lr, in one group with the tower when the scales agree', async () => {
    const vlm = await loadMiniCPMV(modelDir);
    const same = imageSftAdamW(vlm, {}, true, false, 0.05, 0.05);
    expect(same.groups.map((g) => [g.name, g.lrScale])).toEqual([
      ['resampler and vision tower (0.05 lr)', 0.05],
    ]);
    const apart = imageSftAdamW(vlm, {}, true, false, 0.1, 0.5);
    expect(apart.groups.map((g) => [g.name, g.lrScale])).toEqual([
      ['resampler (0.5 lr)', 0.5],
      ['vision tower (0.1 lr)', 0.1],
    ]);
  });

  it('a first AdamW step moves tower weights by visionLrScale × lr (Adam steps are ±lr at first)', async () => {
    const vlm = await loadMiniCPMV(modelDir);
    const opt = imageSftAdamW(vlm, { weightDecay: 0, clip: 0 }, true, false, 0.1);
    const tw = vlm.params.get('vpm.blocks.0.mlp.fc1.weight')!;
    const rw = vlm.params.get('resampler.kv_proj.weight')!;
    const before = [Float32Array.from(tw.data as Float32Array), Float32Array.from(rw.data as Float32Array)];
    for (const g of opt.groups) for (const p of g.params) p.grad = Tensor.ones(p.shape);
    opt.update(1e-3);
    const moved = (t: Tensor, b: Float32Array) => Math.abs((t.data as Float32Array)[0] - b[0]);
    expect(moved(rw, before[1])).toBeCloseTo(1e-3, 5);
    expect(moved(tw, before[0])).toBeCloseTo(1e-4, 6);
  });
});
