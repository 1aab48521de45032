// A GPTQ folder loaded straight into int4/int8 weights: the layers hold exactly the folder's values,
// and the forward pass (prefill and cached decode) agrees with the same weights dequantized to f32 to
// within the int8 activation quantization: |Δlogit| ≤ 0.5% of the logits' range (measured ≤ 0.06%), and the same top-1
// token at ≥ 95% of positions. Bad folders get typed errors that name the tensor.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { openWeights, saveFolder, writeSafetensors } from '../../src/io/index.js';
import { configFromHF } from '../../src/models/config.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadAnyModel, QuantFormatError, quantizeModel, saveQuantizedModel } from '../../src/quant/index.js';
import { loadQuantizedModel } from '../../src/quant/load-quantized.js';
import { QuantizedLinears } from '../../src/quant/qlinear.js';
import { dequantizeQWeight } from '../../src/quant/qweight.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { tempDir } from '../io/helpers.js';

useBackend('auto');

const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 96,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  scale_emb: 4,
  scale_depth: 1.4,
  dim_model_base: 32,
});
const rng = new Rng(5);
const seqs = Array.from({ length: 4 }, () =>
  Array.from({ length: 24 }, () => Math.floor(rng.uniform() * 96)),
);

const root = tempDir('minicpm-qmodel-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function folder(name: string, bits: number, actOrder: boolean): Promise<string> {
  const dir = path.join(root, name);
  const q = quantizeModel(MiniCPM.init(config, new Rng(3)), seqs, { bits, groupSize: 32, actOrder });
  await saveQuantizedModel(dir, q);
  return dir;
}

function ids(s: number[]): Tensor {
  return Tensor.from(Int32Array.from(s), [1, s.length], 'i32');
}

/** Prefill logits of every sequence, and the logits of the same tokens decoded one by one. */
function run(m: MiniCPM): { prefill: Float32Array[]; decode: Float32Array[] } {
  return noGrad(() => ({
    prefill: seqs.map((s) => Float32Array.from(m.forward(ids(s)).toArray())),
    decode: seqs.slice(0, 2).map((s) => {
      const c = m.config;
      const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, s.length);
      const out: number[] = [];
      for (const t of s) out.push(...m.forward(ids([t]), cache).toArray());
      return Float32Array.from(out);
    }),
  }));
}

function agreement(a: Float32Array[], b: Float32Array[]): { maxRel: number; top1: number } {
  let maxRel = 0;
  let same = 0;
  let n = 0;
  const V = config.vocabSize;
  for (let s = 0; s < a.length; s++) {
    for (let p = 0; p < a[s].length / V; p++) {
      const x = a[s].subarray(p * V, (p + 1) * V);
      const y = b[s].subarray(p * V, (p + 1) * V);
      const range = Math.max(...y) - Math.min(...y);
      let d = 0;
      for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
      maxRel = Math.max(maxRel, d / range);
      same += x.indexOf(Math.max(...x)) === y.indexOf(Math.max(...y)) ? 1 : 0;
      n++;
    }
  }
  return { maxRel, top1: same / n };
}

describe('GPTQ folders on the int4/int8 kernels', () => {
  for (const [bits, act] of [
    [4, true],
    [4, false],
    [8, true],
    [2, false],
  ] as const) {
    it(`${bits}-bit${act ? ' act-order' : ''}: exact weights, logits within the stated tolerance`, async () => {
      const dir = await folder(`w${bits}${act ? 'a' : ''}`, bits, act);
      const q = await loadQuantizedModel(dir);
      expect((await loadAnyModel(dir)).linearRunner).toBeInstanceOf(QuantizedLinears);
      const runner = q.linearRunner as QuantizedLinears;
      expect(runner).toBeInstanceOf(QuantizedLinears);
      expect(runner.weights.size).toBe(2 * 7);
      expect(q.params.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
      // q/k/v share one act-order permutation array, so they run as one kernel call
      const w = (m: string) => runner.weights.get(`model.layers.1.${m}`)!;
      if (act) expect(w('self_attn.k_proj').perm).toBe(w('self_attn.q_proj').perm);
      const ref = await loadAnyModel(dir, { dequantize: true }); // the same folder in f32
      for (const [module, qw] of runner.weights)
        expect(dequantizeQWeight(qw), module).toEqual(ref.p(`${module}.weight`).data);
      const got = run(q);
      const want = run(ref);
      const pre = agreement(got.prefill, want.prefill);
      const dec = agreement(got.decode, want.decode);
      expect(pre.maxRel).toBeLessThan(0.005);
      expect(dec.maxRel).toBeLessThan(0.005);
      expect(pre.top1).toBeGreaterThanOrEqual(0.95);
      expect(dec.top1).toBeGreaterThanOrEqual(0.95);
      // decode through the cache computes what prefill computes
      const once = agreement(got.decode, got.prefill.slice(0, 2));
      expect(once.maxRel).toBeLessThan(0.005);
    });
  }

  it('loads a sharded folder to the same model', async () => {
    const dir = await folder('one', 4, true);
    const reader = await openWeights(dir);
    const records = reader.names().map((n) => reader.readSync(n));
    await reader.close();
    const sharded = path.join(root, 'sharded');
    const json = (f: string) =>
      JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
    await saveFolder(sharded, {
      config: json('config.json'),
      tensors: records,
      maxShardBytes: 20_000,
      extraJson: { 'quantize_config.json': json('quantize_config.json') },
    });
    expect(fs.existsSync(path.join(sharded, 'model.safetensors.index.json'))).toBe(true);
    const a = run(await loadAnyModel(dir));
    const b = run(await loadAnyModel(sharded));
    expect(b.prefill).toEqual(a.prefill);
  });

  it('refuses unsupported bits and inconsistent or truncated tensors, naming them', async () => {
    const dir = await folder('bad', 4, true);
    const copy = (name: string) => {
      const d = path.join(root, name);
      fs.cpSync(dir, d, { recursive: true });
      return d;
    };
    const three = copy('three');
    const qc = JSON.parse(fs.readFileSync(path.join(three, 'config.json'), 'utf8')) as {
      quantization_config: { bits: number };
    };
    qc.quantization_config.bits = 3;
    fs.writeFileSync(path.join(three, 'config.json'), JSON.stringify(qc));
    await expect(loadQuantizedModel(three)).rejects.toThrow(/3-bit GPTQ is not supported.*2-, 4- and 8-bit/);

    // scales of one layer cut to the wrong group count
    const shapes = copy('shapes');
    const reader = await openWeights(shapes);
    const recs = reader.names().map((n) => reader.readSync(n));
    await reader.close();
    const file = fs.readdirSync(shapes).find((f) => f.endsWith('.safetensors'))!;
    const bad = recs.map((r) =>
      r.name === 'model.layers.1.mlp.down_proj.scales'
        ? {
            ...r,
            shape: [r.shape[0] - 1, r.shape[1]],
            data: r.data.subarray(0, (r.shape[0] - 1) * r.shape[1] * 2),
          }
        : r,
    );
    await writeSafetensors(path.join(shapes, file), bad);
    const e = await loadQuantizedModel(shapes).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QuantFormatError);
    expect((e as Error).message).toMatch(
      /model\.layers\.1\.mlp\.down_proj\.qzeros is \[5, 8\], expected \[4, 8\]/,
    );

    // a truncated file
    const cut = copy('cut');
    const f = path.join(cut, file);
    fs.truncateSync(f, fs.statSync(f).size - 100);
    await expect(loadQuantizedModel(cut)).rejects.toThrow(/tensor '[^']+' ends at data byte \d+ .*truncated/);
  });
});
