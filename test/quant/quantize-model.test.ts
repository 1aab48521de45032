// GPTQ over a whole model: layer by layer from calibration sequences, saved in AutoGPTQ's layout and
// loaded back (dequantized) to the same logits.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGguf, openWeights, readLlama2c, saveFolder, writeSafetensors } from '../../src/io/index.js';
import { exportFolderToGguf } from '../../src/models/gguf-export.js';
import { generateAll } from '../../src/engine/generate.js';
import { loadModel } from '../../src/models/load.js';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import {
  dequantizePacked,
  loadAnyModel,
  matrix,
  matrixFromTensor,
  openAnyWeights,
  outputError,
  packAutoGptq,
  QuantFormatError,
  QuantShapeError,
  quantizeModel,
  readQuantizeConfig,
  rtnQuantize,
  saveQuantizedModel,
} from '../../src/quant/index.js';
import { cast, crossEntropy, noGrad, reshape, Rng, Tensor } from '../../src/tensor/index.js';
import { tempDir } from '../io/helpers.js';
import { useBackend } from '../../src/backends/index.js';

useBackend('auto');

const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 96,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  scale_emb: 4,
  scale_depth: 1.4,
  dim_model_base: 32,
});
const rng = new Rng(21);
const calibration = Array.from({ length: 6 }, () =>
  Array.from({ length: 20 }, () => Math.floor(rng.uniform() * 96)),
);
const opts = { groupSize: 16, actOrder: true } as const;

function fresh(): MiniCPM {
  return MiniCPM.init(config, new Rng(4));
}

function logits(m: MiniCPM): number[] {
  return noGrad(() => m.forward(Tensor.from(Int32Array.from(calibration[0]), [1, 20], 'i32'))).toArray();
}

describe('quantizeModel (GPTQ, true-sequential)', () => {
  it('beats round-to-nearest on the inputs each layer-0 projection sees', () => {
    const original = fresh();
    // layer 0's attention input does not depend on any quantized weight: collect it once
    const rows: number[] = [];
    original.linearInputs = (l, g, x) => void (l === 0 && g === 'qkv' && rows.push(...x.toArray()));
    noGrad(() =>
      calibration.forEach((ids) => original.forward(Tensor.from(Int32Array.from(ids), [1, 20], 'i32'))),
    );
    original.linearInputs = null;
    const X = matrix(Float64Array.from(rows), rows.length / 64, 64);
    const before = new Map(
      ['q_proj', 'k_proj', 'v_proj'].map((p) => [
        p,
        matrixFromTensor(original.p(`model.layers.0.self_attn.${p}.weight`)),
      ]),
    );
    const q = quantizeModel(original, calibration, opts);
    expect(q.packed.size).toBe(2 * 7);
    for (const [p, w] of before) {
      const gptq = matrixFromTensor(q.model.p(`model.layers.0.self_attn.${p}.weight`));
      const rtn = rtnQuantize(w, { groupSize: 16 });
      const eG = outputError(X, w, gptq);
      const eR = outputError(X, w, matrix(rtn.weight, w.rows, w.cols));
      expect(eG, p).toBeLessThan(0.8 * eR);
    }
    // the in-memory weights are exactly what a reader of the packed layers computes
    const o = q.model.p('model.layers.1.self_attn.o_proj.weight');
    expect(Array.from(o.data as Float32Array)).toEqual(
      Array.from(dequantizePacked(q.packed.get('model.layers.1.self_attn.o_proj')!)),
    );
    expect(q.config).toMatchObject({
      bits: 4,
      group_size: 16,
      desc_act: true,
      sym: false,
      true_sequential: true,
    });
  });

  it('saves an AutoGPTQ folder that loads back to the same logits', async () => {
    const q = quantizeModel(fresh(), calibration, { ...opts, trueSequential: false });
    expect(q.config.true_sequential).toBe(false);
    const dir = path.join(tempDir('gptq'), 'model');
    await saveQuantizedModel(dir, q);
    const files = fs.readdirSync(dir);
    expect(files).toEqual(
      expect.arrayContaining(['config.json', 'quantize_config.json', 'model.safetensors']),
    );
    expect(await readQuantizeConfig(dir)).toEqual(q.config);
    const raw = await openWeights(dir);
    expect(raw.info('model.layers.0.mlp.down_proj.qweight')).toMatchObject({
      dtype: 'I32',
      shape: [128 / 8, 64],
    });
    expect(raw.info('model.layers.0.mlp.down_proj.scales')).toMatchObject({ dtype: 'F16', shape: [8, 64] });
    expect(raw.has('model.layers.0.mlp.down_proj.weight')).toBe(false);
    await raw.close();
    const back = await loadAnyModel(dir);
    expect(logits(back)).toEqual(logits(q.model));
    const back16 = await loadAnyModel(dir, { weightDtype: 'bf16' });
    expect(back16.p('model.layers.0.self_attn.q_proj.weight').dtype).toBe('bf16');
    // GGUF export of the folder carries the dequantized weights
    const gguf = path.join(dir, '..', 'model.gguf');
    await exportFolderToGguf(dir, gguf, { openReader: openAnyWeights });
    const g = await openGguf(gguf);
    const v = g.readTensorSync('blk.1.attn_v.weight');
    expect(Array.from(new Float32Array(v.data.slice().buffer))).toEqual(
      Array.from(q.model.p('model.layers.1.self_attn.v_proj.weight').data as Float32Array),
    );
    await g.close();
    await expect(exportFolderToGguf(dir, gguf)).rejects.toThrow(/lacks 14 tensor/);
  });

  it('rejects bad calibration, bf16 weights and incomplete checkpoints with typed errors', async () => {
    expect(() => quantizeModel(fresh(), [], opts)).toThrow(QuantShapeError);
    expect(() => quantizeModel(fresh(), [[1, 2, 96]], opts)).toThrow(/outside the vocabulary/);
    const m = fresh();
    const bf16 = new MiniCPM(
      config,
      new Map([...m.params].map(([n, t]) => [n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')) : t])),
    );
    expect(() => quantizeModel(bf16, calibration, opts)).toThrow(/load the model with f32 weights/);

    const q = quantizeModel(fresh(), calibration.slice(0, 2), opts);
    const dir = path.join(tempDir('gptq'), 'broken');
    await saveQuantizedModel(dir, q);
    const reader = await openWeights(dir);
    const keep = reader.names().filter((n) => n !== 'model.layers.1.mlp.up_proj.g_idx');
    const records = keep.map((n) => reader.readSync(n));
    await reader.close();
    await writeSafetensors(path.join(dir, 'model.safetensors'), records);
    await expect(loadAnyModel(dir)).rejects.toThrow(/up_proj\.g_idx/);
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({
        ...JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')),
        quantization_config: { bits: 5, group_size: 16 },
      }),
    );
    await expect(loadAnyModel(dir)).rejects.toBeInstanceOf(QuantFormatError);
  });
});

const STORIES = path.resolve(__dirname, '../../../shared/fixtures/llama2c/stories260K.bin');

describe.skipIf(!fs.existsSync(STORIES))('GPTQ on a real trained model (llama2.c stories260K)', () => {
  it('raises the loss on held-out samples less than round-to-nearest does', async () => {
    const dir = path.join(tempDir('gptq'), 'stories');
    const ckpt = readLlama2c(STORIES);
    await saveFolder(dir, { config: ckpt.config, tensors: ckpt.tensors });
    const base = await loadModel(dir);
    // no tokenizer or text comes with the model: calibrate and evaluate on its own samples
    const sample = async (seed: number): Promise<number[]> => {
      const [ids] = await generateAll(base, [[1]], { maxNewTokens: 127, temperature: 1, seed, stopIds: [] });
      return [1, ...ids];
    };
    // Enough data that the comparison does not hang on which samples are drawn: with 8 calibration and
    // 8 held-out samples the ratio (GPTQ's loss increase over RTN's) ranged 0.66-0.87 over eight disjoint
    // seed sets, so 0.8 held only for lucky draws; with 32 and 16 it was 0.71-0.75 over six (64
    // calibration samples: 0.72-0.74), the margin this bound keeps.
    const calib = await Promise.all(Array.from({ length: 32 }, (_, i) => sample(100 + i)));
    const held = await Promise.all(Array.from({ length: 16 }, (_, i) => sample(900 + i)));
    const loss = (m: MiniCPM): number =>
      noGrad(() => {
        let s = 0;
        for (const w of held) {
          const T = w.length - 1;
          const lg = m.forward(Tensor.from(Int32Array.from(w.slice(0, T)), [1, T], 'i32'));
          s += crossEntropy(
            reshape(lg, [T, -1]),
            Tensor.from(Int32Array.from(w.slice(1)), [T], 'i32'),
          ).toArray()[0];
        }
        return s / held.length;
      });
    const q = quantizeModel(await loadModel(dir), calib, { groupSize: 32, actOrder: true });
    // its 172-wide MLP cannot be packed in 4-bit words: only attention is quantized, and that is reported
    expect(q.skipped).toHaveLength(15);
    expect(q.packed.size).toBe(20);
    const rtn = await loadModel(dir);
    for (const name of q.packed.keys()) {
      const t = rtn.p(`${name}.weight`);
      const r = rtnQuantize(matrixFromTensor(t), { groupSize: 32, storableZeros: true });
      (t.data as Float32Array).set(dequantizePacked(packAutoGptq(r)));
    }
    const [l0, lG, lR] = [loss(base), loss(q.model), loss(rtn)];
    expect(lG).toBeGreaterThan(l0);
    expect(lG - l0).toBeLessThan(0.8 * (lR - l0));
  });
});
