// GPTQ folder variants beside the plain `gptq` one: GPTQModel's `gptq_v2` (qzeros hold the zero itself,
// not zero − 1) on the int4/int8 kernels and through the dequantizing reader (group sizes without a
// kernel, GGUF export), `static_groups` with act-order (g_idx in column order: nothing to gather), and
// bit widths without a reader (3-bit: a typed error, not a "runs dequantized" note and a shape error).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { openWeights, writeSafetensors } from '../../src/io/index.js';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import {
  dequantizePacked,
  loadAnyModel,
  openAnyWeights,
  QuantFormatError,
  quantizeModel,
  saveQuantizedModel,
} from '../../src/quant/index.js';
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
const rng = new Rng(7);
const seqs = Array.from({ length: 4 }, () =>
  Array.from({ length: 20 }, () => Math.floor(rng.uniform() * 96)),
);

const root = tempDir('gptq-variants');

async function folder(name: string, bits: number, groupSize: number, actOrder: boolean): Promise<string> {
  const dir = path.join(root, name);
  const q = quantizeModel(MiniCPM.init(config, new Rng(3)), seqs, { bits, groupSize, actOrder });
  await saveQuantizedModel(dir, q);
  return dir;
}

/** A copy of `dir` with its quantization settings edited in config.json and quantize_config.json. */
function withSettings(dir: string, name: string, edit: Record<string, unknown>): string {
  const d = path.join(root, name);
  fs.cpSync(dir, d, { recursive: true });
  const cfgFile = path.join(d, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { quantization_config: object };
  cfg.quantization_config = { ...cfg.quantization_config, ...edit };
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  const qcFile = path.join(d, 'quantize_config.json');
  fs.writeFileSync(qcFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(qcFile, 'utf8')), ...edit }));
  return d;
}

/** `dir` rewritten as gptq_v2: every stored zero field + 1 (the zero itself), the format flag set. */
async function asV2(dir: string, name: string, bits: number): Promise<string> {
  const d = withSettings(dir, name, { checkpoint_format: 'gptq_v2' });
  const file = fs.readdirSync(d).find((f) => f.endsWith('.safetensors'))!;
  const reader = await openWeights(d);
  const recs = reader.names().map((n) => reader.readSync(n));
  await reader.close();
  const per = 32 / bits;
  const mask = 2 ** bits - 1;
  const out = recs.map((r) => {
    if (!r.name.endsWith('.qzeros')) return r;
    const words = new Int32Array(r.data.slice().buffer);
    for (let i = 0; i < words.length; i++) {
      let w = 0;
      for (let j = 0; j < per; j++) {
        const z = ((words[i] >>> (bits * j)) & mask) + 1;
        expect(z).toBeLessThanOrEqual(mask); // every zero of this model is storable in v2
        w |= z << (bits * j);
      }
      words[i] = w;
    }
    return { ...r, data: new Uint8Array(words.buffer) };
  });
  await writeSafetensors(path.join(d, file), out);
  return d;
}

function logits(m: MiniCPM): number[][] {
  return noGrad(() =>
    seqs.map((s) => Array.from(m.forward(Tensor.from(Int32Array.from(s), [1, s.length], 'i32')).toArray())),
  );
}

/** Runs f with stderr captured; returns what it wrote and f's value. */
async function stderrOf<T>(f: () => Promise<T>): Promise<{ err: string; value: T }> {
  let err = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const value = await f();
    return { err, value };
  } finally {
    spy.mockRestore();
  }
}

describe('GPTQ folder variants', () => {
  for (const bits of [4, 8, 2]) {
    it(`gptq_v2 ${bits}-bit act-order: the same quantized weights and logits as the gptq folder`, async () => {
      const v1 = await folder(`v1-${bits}`, bits, 32, true);
      const v2 = await asV2(v1, `v2-${bits}`, bits);
      const a = await loadAnyModel(v1);
      const b = await loadAnyModel(v2);
      const ra = a.linearRunner as QuantizedLinears;
      const rb = b.linearRunner as QuantizedLinears;
      expect(rb).toBeInstanceOf(QuantizedLinears);
      for (const [m, w] of ra.weights)
        expect(dequantizeQWeight(rb.weights.get(m)!), m).toEqual(dequantizeQWeight(w));
      expect(logits(b)).toEqual(logits(a));
      // the dequantizing reader (export, --dequantize) reads v2 zeros too
      const ra2 = await openAnyWeights(v1);
      const rb2 = await openAnyWeights(v2);
      for (const n of ra2.names().filter((n) => n.endsWith('proj.weight')))
        expect(rb2.readSync(n).data, n).toEqual(ra2.readSync(n).data);
      await ra2.close();
      await rb2.close();
    });
  }

  it('gptq_v2 with a group size that has no kernel: one note line, dequantized as the gptq folder', async () => {
    const v1 = await folder('v1-g16', 4, 16, false);
    const v2 = await asV2(v1, 'v2-g16', 4);
    const a = await stderrOf(() => loadAnyModel(v1));
    const b = await stderrOf(() => loadAnyModel(v2));
    expect(b.err.trim().split('\n')).toHaveLength(1);
    expect(b.err).toMatch(/group size 16 has no int4\/int8 kernel.*run dequantized to f32/);
    expect(b.value.linearRunner).not.toBeInstanceOf(QuantizedLinears);
    expect(logits(b.value)).toEqual(logits(a.value));
  });

  it('static_groups with act-order: g_idx in column order loads as the plain folder', async () => {
    const plain = await folder('static', 4, 32, false);
    const flagged = withSettings(plain, 'static-flagged', { desc_act: true, static_groups: true });
    const a = await loadAnyModel(plain);
    const b = await loadAnyModel(flagged);
    const rb = b.linearRunner as QuantizedLinears;
    expect(rb).toBeInstanceOf(QuantizedLinears);
    for (const w of rb.weights.values()) expect(w.perm).toBeNull(); // nothing to gather
    expect(logits(b)).toEqual(logits(a));
  });

  it('3-bit: a typed error naming the folder and the supported widths, no dequantization note', async () => {
    const three = withSettings(await folder('three', 4, 32, false), 'three-bits', { bits: 3 });
    const r = await stderrOf(() => loadAnyModel(three).catch((e: unknown) => e));
    expect(r.value).toBeInstanceOf(QuantFormatError);
    expect((r.value as Error).message).toMatch(/three-bits: 3-bit GPTQ is not supported \(2-, 4- and 8-bit/);
    expect(r.err).toBe('');
    await expect(openAnyWeights(three)).rejects.toThrow(QuantFormatError);
  });

  it('dequantizes an 8-bit gptq zero of 256 (stored 255) as AutoGPTQ does, and v2 zeros as stored', () => {
    const p = {
      out: 4,
      in: 4,
      bits: 8,
      groups: 1,
      qweight: Int32Array.from([0x04030201, 0x08070605, 0x0c0b0a09, 0x100f0e0d]), // [in/4 = 1, out = 4]
      qzeros: Int32Array.from([-1]), // four stored fields of 255
      scales: Uint16Array.from([0x3c00, 0x3c00, 0x4000, 0x3c00]), // 1, 1, 2, 1
      gIdx: new Int32Array(4),
    };
    // row o, column c holds byte c of word o: 4o + c + 1
    const w = (offset: 0 | 1) =>
      Array.from({ length: 16 }, (_, i) => {
        const o = Math.floor(i / 4);
        return (o === 2 ? 2 : 1) * (4 * o + (i % 4) + 1 - (255 + offset));
      });
    expect(Array.from(dequantizePacked(p))).toEqual(w(1));
    expect(Array.from(dequantizePacked(p, 0))).toEqual(w(0));
  });
});
