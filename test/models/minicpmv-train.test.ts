/**
 * Training steps through MiniCPM-V on the tiny fixture: the loss of an image-grounded answer falls, the
 * vision tower stays frozen by default and trains with trainVision, the resampler always trains.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeBackend, refBackend } from '../../src/backends/index.js';
import { rgbImage } from '../../src/image/index.js';
import { typedView } from '../../src/io/dtypes.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { AdamW, adamwConfig } from '../../src/train/optimizer.js';
import { backward, scope, setBackend, Tensor, zeroGrad } from '../../src/tensor/index.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';

const DIR = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpmv/tiny');
const have = fs.existsSync(DIR);

async function run(trainVision: boolean) {
  setBackend(nativeBackend() ?? refBackend());
  const model = await loadMiniCPMV(DIR);
  const fx = openSafetensorsSync(path.join(DIR, 'fixture.safetensors'));
  const rec = fx.readSync('up.image_u8');
  const pixels = model.pixelValues(rgbImage(rec.shape[1], rec.shape[0], new Uint8Array(rec.data))).keep();
  const idsArr = Array.from(typedView(fx.readSync('up.input_ids')) as BigInt64Array, Number);
  const T = idsArr.length;
  const ids = Tensor.from(Int32Array.from(idsArr), [1, T], 'i32').keep();
  // targets: the next id after the image span only (the answer), −100 elsewhere
  const end = idsArr.indexOf(102);
  const tg = idsArr.map((_, t) => (t > end && t + 1 < T ? idsArr[t + 1] : -100));
  const targets = Tensor.from(Int32Array.from(tg), [1, T], 'i32').keep();
  const params = model.trainableParameters({ trainVision });
  const opt = new AdamW([{ name: 'all', params, lrScale: 1, weightDecay: 0 }], adamwConfig({}));
  const snapshot = (n: string) => model.params.get(n)!.toArray().slice();
  const before = {
    vpm: snapshot('vpm.blocks.0.attn.qkv.weight'),
    res: snapshot('resampler.attn.in_proj_weight'),
  };
  const losses: number[] = [];
  for (let s = 0; s < 6; s++) {
    scope(() => {
      const loss = model.loss(ids, targets, [[pixels]]);
      losses.push(loss.item());
      backward(loss);
    });
    opt.update(3e-3);
    zeroGrad(params);
  }
  const changed = (a: Float32Array | number[], n: string) => {
    const b = model.params.get(n)!.toArray();
    return a.some((v, i) => v !== b[i]);
  };
  return {
    losses,
    vpmChanged: changed(before.vpm, 'vpm.blocks.0.attn.qkv.weight'),
    resChanged: changed(before.res, 'resampler.attn.in_proj_weight'),
    count: params.length,
  };
}

describe.skipIf(!have)('MiniCPM-V training steps', () => {
  it('frozen tower by default: the loss falls, the resampler moves, the tower does not', async () => {
    const r = await run(false);
    expect(r.losses[5]).toBeLessThan(r.losses[0] * 0.9);
    expect(r.resChanged).toBe(true);
    expect(r.vpmChanged).toBe(false);
  });

  it('trainVision: the tower moves too', async () => {
    const r = await run(true);
    expect(r.losses[5]).toBeLessThan(r.losses[0]);
    expect(r.vpmChanged).toBe(true);
  });
});
