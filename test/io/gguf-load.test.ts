/**
 * GGUF files as models (models/gguf-load, quant/ggml-model): an F32 export loads back to the same logits
 * as its folder; quantized tensors (Q8_0, Q4_0, Q4_K, Q6_K) load as their decoded values with a one-line
 * report; unsupported types, truncated data, wrong shapes and other architectures are typed errors that
 * name the tensor and what is supported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../src/io/dtypes.js';
import {
  decodeQ4_0,
  decodeQ4_K,
  decodeQ6_K,
  decodeQ8_0,
  encodeQ4_0,
  encodeQ8_0,
  Q4_K_BYTES,
  Q6_K_BYTES,
} from '../../src/io/gguf-blocks.js';
import { openGguf, writeGguf, type GgufTensorSource } from '../../src/io/gguf.js';
import { exportModelToGguf } from '../../src/models/gguf-export.js';
import {
  configFromGguf,
  GgufTensorTypeError,
  isGgufPath,
  loadGgufModelDense,
} from '../../src/models/gguf-load.js';
import { configFromHF } from '../../src/models/config.js';
import { loadModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { WeightsMismatchError } from '../../src/models/weights.js';
import { dequantizedNote, loadGgufModel, loadGgufModelWithReport } from '../../src/quant/ggml-model.js';
import type { QuantizedLinears } from '../../src/quant/qlinear.js';
import { dequantizeQWeight } from '../../src/quant/qweight.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const dir = tempDir('gguf-load');

function logits(model: MiniCPM, ids: number[]): Float32Array {
  return Float32Array.from(
    noGrad(() => model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32'))).toArray(),
  );
}

/** Rewrites a GGUF with some tensors replaced (raw ggml data) or dropped. */
async function rewrite(
  src: string,
  dst: string,
  replace: Record<string, { type: string; data: Uint8Array; shape?: number[] } | null>,
  size?: (n: number) => number,
): Promise<void> {
  const g = await openGguf(src);
  const tensors: GgufTensorSource[] = [];
  for (const t of g.tensors) {
    const r = replace[t.name];
    if (r === null) continue;
    tensors.push(
      r
        ? { name: t.name, shape: r.shape ?? t.shape, ggmlType: r.type, data: r.data }
        : { name: t.name, shape: t.shape, ggmlType: t.typeName, data: await g.readRaw(t.name) },
    );
  }
  await writeGguf(dst, g.metadata, tensors);
  await g.close();
  if (size) fs.truncateSync(dst, size(fs.statSync(dst).size));
}

/** A 1-layer model whose matrices are 256 wide (K-quant super-blocks). */
function wideModel(): MiniCPM {
  const config = configFromHF({
    vocab_size: 64,
    hidden_size: 256,
    intermediate_size: 256,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    max_position_embeddings: 64,
    scale_emb: 12,
    scale_depth: 1.4,
    dim_model_base: 64,
  });
  return MiniCPM.init(config, new Rng(1));
}

/** Random K-quant blocks with small, finite fp16 scales. */
function kBlocks(n: number, bytes: number, scaleAt: number[], seed: number): Uint8Array {
  const rng = new Rng(seed);
  const b = Uint8Array.from({ length: (n / 256) * bytes }, () => Math.floor(rng.uniform() * 256));
  for (let o = 0; o < b.length; o += bytes)
    for (const s of scaleAt)
      new DataView(b.buffer).setUint16(o + s, f32ToF16(0.001 * (1 + rng.uniform())), true);
  return b;
}

describe.skipIf(!hasShared)('GGUF models', () => {
  it('an F32 export loads to the same config and logits as its folder; isGgufPath sees files, not folders', async () => {
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-gqa');
    const folder = await loadModel(fx);
    const file = path.join(dir, 'gqa.gguf');
    await exportModelToGguf(folder, file);
    const g = await openGguf(file);
    const c = configFromGguf(g);
    await g.close();
    expect(c).toMatchObject({ hiddenSize: 96, numKvHeads: 2, tieWordEmbeddings: true, scaleDepth: 1.4 });
    const r = loadGgufModelDense(file);
    expect(r.dequantized).toEqual([]);
    const ids = [1, 7, 200, 3, 64, 9];
    expect(logits(r.model, ids)).toEqual(logits(folder, ids));
    expect(isGgufPath(file)).toBe(true);
    expect(isGgufPath(fx)).toBe(false);
  });

  for (const [dtype, codec] of [
    ['q8_0', (r: Float32Array) => decodeQ8_0(encodeQ8_0(r), r.length)],
    ['q4_0', (r: Float32Array) => decodeQ4_0(encodeQ4_0(r), r.length)],
  ] as const) {
    it(`${dtype}: matrices run on the int4/int8 kernels, repacked losslessly (q/k rows back in rotate-half order)`, async () => {
      const fx = path.join(sharedFixtures, 'minicpm', 'tiny-mha');
      const folder = await loadModel(fx);
      const file = path.join(dir, `mha-${dtype}.gguf`);
      await exportModelToGguf(folder, file, { dtype });
      const { model, report } = loadGgufModelWithReport(file);
      // 3 layers × 7 matrices on W4 (q4_0) or W8, and the tied embedding/head (Q8_0 in both files) on W8.
      expect(report.native).toEqual(dtype === 'q8_0' ? { Q8_0: 22 } : { Q4_0: 21, Q8_0: 1 });
      // Nothing is dequantized: the tied embedding's lookups read rows of the same W8 matrix the head runs.
      expect(report.dequantized).toEqual([]);
      expect(dequantizedNote(file, report)).toBeUndefined();
      const runner = model.linearRunner as QuantizedLinears;
      expect(runner.embedding).toBe(runner.weights.get('lm_head'));
      expect(model.params.has('model.embed_tokens.weight')).toBe(false);
      for (const module of [
        'model.layers.1.self_attn.q_proj',
        'model.layers.2.self_attn.k_proj',
        'model.layers.0.mlp.up_proj',
      ]) {
        const [rows, cols] = folder.p(`${module}.weight`).shape;
        const w = Float32Array.from(folder.p(`${module}.weight`).toArray());
        const q = runner.weights.get(module)!;
        expect(q.bits).toBe(dtype === 'q8_0' ? 8 : 4);
        const got = dequantizeQWeight(q);
        // Rows are whole blocks, so each row holds exactly the ggml codec's values of the original row.
        for (let r = 0; r < rows; r++)
          expect(got.subarray(r * cols, (r + 1) * cols)).toEqual(codec(w.subarray(r * cols, (r + 1) * cols)));
      }
      // The kernels quantize activations to int8 per 32: logits stay close to the dequantized model's.
      const ref = loadGgufModelDense(file).model;
      const ids = [1, 7, 200, 3, 64, 9, 31, 5];
      const a = logits(model, ids);
      const b = logits(ref, ids);
      const scale = Math.max(...b.map(Math.abs));
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeLessThan(0.02 * scale);
    });
  }

  it('Q4_K and Q6_K tensors load as their decoded super-blocks', async () => {
    const m = wideModel();
    const f32 = path.join(dir, 'wide.gguf');
    await exportModelToGguf(m, f32);
    const up = kBlocks(256 * 256, Q4_K_BYTES, [0, 2], 3);
    const down = kBlocks(256 * 256, Q6_K_BYTES, [208], 4);
    const file = path.join(dir, 'wide-k.gguf');
    await rewrite(f32, file, {
      'blk.0.ffn_up.weight': { type: 'Q4_K', data: up },
      'blk.0.ffn_down.weight': { type: 'Q6_K', data: down },
    });
    const notes: string[] = [];
    const model = await loadGgufModel(file, { weightDtype: 'bf16' }, (l) => notes.push(l));
    expect(notes[0]).toMatch(/2 quantized tensors \(1 Q4_K, 1 Q6_K\) run through dequantization to bf16/);
    const r = loadGgufModelDense(file);
    expect(r.dequantized.sort()).toEqual([
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.mlp.up_proj.weight',
    ]);
    expect(Float32Array.from(r.model.p('model.layers.0.mlp.up_proj.weight').toArray())).toEqual(
      decodeQ4_K(up, 65536),
    );
    expect(Float32Array.from(r.model.p('model.layers.0.mlp.down_proj.weight').toArray())).toEqual(
      decodeQ6_K(down, 65536),
    );
    expect(model.p('model.layers.0.mlp.up_proj.weight').dtype).toBe('bf16');
  });

  it('bad input: an unsupported type, truncated data, a wrong shape, another architecture', async () => {
    const m = wideModel();
    const f32 = path.join(dir, 'wide2.gguf');
    await exportModelToGguf(m, f32);
    const q51 = path.join(dir, 'q5_1.gguf');
    await rewrite(f32, q51, {
      'blk.0.attn_v.weight': { type: 'Q5_1', data: new Uint8Array((65536 / 32) * 24) },
    });
    const err = (() => {
      try {
        loadGgufModelDense(q51);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(GgufTensorTypeError);
    expect(err!.message).toMatch(
      /tensor 'blk\.0\.attn_v\.weight': ggml type Q5_1 is not supported; supported types are F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K/,
    );

    const cut = path.join(dir, 'cut.gguf');
    await rewrite(f32, cut, {}, (n) => n - 1000);
    expect(() => loadGgufModelDense(cut)).toThrow(
      /tensor '.+' ends at byte \d+ but the file has \d+ bytes \(truncated download\?\)/,
    );

    const wrong = path.join(dir, 'wrong-shape.gguf');
    await rewrite(f32, wrong, {
      'blk.0.ffn_gate.weight': { type: 'F32', data: new Uint8Array(128 * 256 * 4), shape: [128, 256] },
    });
    expect(() => loadGgufModelDense(wrong)).toThrow(WeightsMismatchError);
    expect(() => loadGgufModelDense(wrong)).toThrow(/mlp\.gate_proj\.weight is \[256, 256\]/);

    const g = await openGguf(f32);
    const meta = new Map(g.metadata);
    meta.set('general.architecture', { type: 'string', value: 'qwen2' });
    const other = path.join(dir, 'qwen.gguf');
    await writeGguf(other, meta, []);
    await g.close();
    expect(() => loadGgufModelDense(other)).toThrow(/general\.architecture is 'qwen2'; only 'minicpm' and 'llama'/);
  });
});
