import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors, writeSafetensors, type TensorRecord } from '../../src/io/index.js';
import {
  HessianAccumulator,
  MINICPM_INT4_CONFIG,
  QuantFormatError,
  QuantShapeError,
  UnstorableZeroError,
  autogptqFromRecords,
  autogptqRecords,
  dequantizePacked,
  gptqQuantize,
  packAutoGptq,
  parseQuantizeConfig,
  quantizeConfigFor,
  unpackAutoGptq,
  writeQuantizeConfig,
  type QuantizedLinear,
} from '../../src/quant/index.js';
import { Rng, f16ToF32 } from '../../src/tensor/index.js';
import { correlatedActivations, maxAbsDiff, randomMatrix, thrown } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-quant-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A layer with chosen codes and zeros; scales are fp16-exact so the round trip can be exact. */
function layer(
  out: number,
  cols: number,
  groupSize: number,
  code: (o: number, c: number) => number,
  zero: (g: number, o: number) => number,
  gIdx?: Int32Array,
  bits = 4,
): QuantizedLinear {
  const groups = Math.ceil(cols / groupSize);
  const q = new Uint8Array(out * cols);
  for (let o = 0; o < out; o++) for (let c = 0; c < cols; c++) q[o * cols + c] = code(o, c);
  const zeros = new Uint8Array(groups * out);
  const scales = new Float64Array(groups * out);
  for (let g = 0; g < groups; g++) {
    for (let o = 0; o < out; o++) {
      zeros[g * out + o] = zero(g, o);
      scales[g * out + o] = (1 + ((g * 7 + o) % 13)) / 64; // multiples of 2^-6: exact in fp16
    }
  }
  const idx = gIdx ?? Int32Array.from({ length: cols }, (_, c) => Math.floor(c / groupSize));
  const weight = new Float64Array(out * cols);
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < cols; c++) {
      const k = idx[c] * out + o;
      weight[o * cols + c] = scales[k] * (q[o * cols + c] - zeros[k]);
    }
  }
  return { out, in: cols, bits, groupSize, sym: false, q, scales, zeros, gIdx: idx, weight };
}

describe('AutoGPTQ packing (SPEC §9)', () => {
  it('qweight: 8 nibbles per int32 along the input dim, lowest bits first; layout [in/8, out]', () => {
    // Row o holds codes (o + c) mod 16 for c = 0..7, so row 1 is 1,2,...,8 and row 9 is 9..15,0.
    const ql = layer(
      16,
      16,
      16,
      (o, c) => (o + c) % 16,
      () => 1,
    );
    const p = packAutoGptq(ql);
    expect(p.qweight.length).toBe(2 * 16);
    expect(p.qweight[0 * 16 + 0]).toBe(0x76543210);
    expect(p.qweight[0 * 16 + 1]).toBe(0x87654321 | 0); // top nibble 8 makes the int32 negative
    expect(p.qweight[0 * 16 + 9]).toBe(0x0fedcba9);
    expect(p.qweight[1 * 16 + 0]).toBe(0xfedcba98 | 0); // second word: input columns 8..15
  });

  it('qzeros: zero − 1 per nibble along the output dim, layout [groups, out/8]', () => {
    const zerosRow = [1, 2, 3, 4, 5, 6, 7, 16, 8, 8, 8, 8, 8, 8, 8, 8];
    const ql = layer(
      16,
      8,
      4,
      () => 0,
      (g, o) => (g === 0 ? zerosRow[o] : 9),
    );
    const p = packAutoGptq(ql);
    expect(Array.from(p.qzeros)).toEqual([0xf6543210 | 0, 0x77777777, 0x88888888 | 0, 0x88888888 | 0]);
    const u = unpackAutoGptq(p);
    expect(Array.from(u.zeros.subarray(0, 16))).toEqual(zerosRow); // readers add the 1 back
  });

  it('scales are fp16 [groups, out]; g_idx passes through', () => {
    const ql = layer(
      8,
      8,
      8,
      () => 3,
      () => 8,
    );
    ql.scales[0] = 0.25;
    ql.scales[1] = 1;
    const p = packAutoGptq(ql);
    expect(p.scales[0]).toBe(0x3400);
    expect(p.scales[1]).toBe(0x3c00);
    expect(Array.from(p.gIdx)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it.each([2, 4, 8])('round-trips codes, zeros, scales and a permuted g_idx exactly (%i bits)', (bits) => {
    const rng = new Rng(bits);
    const maxq = 2 ** bits - 1;
    const gIdx = Int32Array.from({ length: 64 }, (_, c) => Math.floor(((c * 37) % 64) / 16)); // act-order-like
    const ql = layer(
      32,
      64,
      16,
      () => rng.int(maxq + 1),
      () => 1 + rng.int(maxq),
      gIdx,
      bits,
    );
    const u = unpackAutoGptq(packAutoGptq(ql));
    expect(Array.from(u.q)).toEqual(Array.from(ql.q));
    expect(Array.from(u.zeros)).toEqual(Array.from(ql.zeros));
    expect(Array.from(u.scales)).toEqual(Array.from(ql.scales));
    expect(Array.from(u.gIdx)).toEqual(Array.from(gIdx));
    expect(maxAbsDiff(dequantizePacked(packAutoGptq(ql)), ql.weight)).toBe(0);
  });

  it('refuses what the format cannot hold', () => {
    expect(() =>
      packAutoGptq(
        layer(
          8,
          8,
          8,
          () => 0,
          (_, o) => (o === 3 ? 0 : 1),
        ),
      ),
    ).toThrow(UnstorableZeroError);
    const e = thrown(() =>
      packAutoGptq(
        layer(
          8,
          8,
          4,
          () => 0,
          (g, o) => (g === 1 && o === 5 ? 0 : 1),
        ),
      ),
    );
    expect(e).toBeInstanceOf(UnstorableZeroError);
    expect(e).toMatchObject({ group: 1, row: 5, message: expect.stringMatching(/storableZeros/) as unknown });
    expect(() =>
      packAutoGptq(
        layer(
          8,
          12,
          4,
          () => 0,
          () => 1,
        ),
      ),
    ).toThrow(/divisible by 8/);
    expect(() =>
      packAutoGptq({
        ...layer(
          8,
          8,
          8,
          () => 0,
          () => 1,
        ),
        bits: 3,
      }),
    ).toThrow(QuantShapeError);
    const big = layer(
      8,
      8,
      8,
      () => 0,
      () => 1,
    );
    big.scales[2] = 1e6;
    expect(() => packAutoGptq(big)).toThrow(/fp16/);
  });
});

describe('AutoGPTQ tensors on disk', () => {
  const rng = new Rng(31);
  const x = correlatedActivations(rng, 128, 64);
  const acc = new HessianAccumulator(64);
  acc.add(x);
  const w = randomMatrix(rng, 16, 64, 0.05);
  const result = gptqQuantize(w, acc.hessian(), { groupSize: 16, actOrder: true, storableZeros: true });
  const prefix = 'model.layers.0.self_attn.q_proj';

  it('GPTQ → records → safetensors → records gives back the layer a reader computes with', async () => {
    const records = autogptqRecords(prefix, packAutoGptq(result));
    expect(records.map((r) => [r.name, r.dtype, r.shape])).toEqual([
      [`${prefix}.qweight`, 'I32', [8, 16]],
      [`${prefix}.qzeros`, 'I32', [4, 2]],
      [`${prefix}.scales`, 'F16', [4, 16]],
      [`${prefix}.g_idx`, 'I32', [64]],
    ]);
    const file = path.join(dir, 'layer.safetensors');
    await writeSafetensors(file, records);
    const reader = await openSafetensors(file);
    const back = autogptqFromRecords(prefix, (name) => reader.readSync(name));
    await reader.close();
    const u = unpackAutoGptq(back);
    expect(Array.from(u.q)).toEqual(Array.from(result.q));
    expect(Array.from(u.zeros)).toEqual(Array.from(result.zeros));
    expect(Array.from(u.gIdx)).toEqual(Array.from(result.gIdx));
    // Only the fp16 rounding of the scales separates the reader's weight from GPTQ's.
    const wRead = dequantizePacked(back);
    for (let i = 0; i < wRead.length; i++) {
      expect(Math.abs(wRead[i] - result.weight[i])).toBeLessThanOrEqual(
        Math.abs(result.weight[i]) * 2 ** -10 + 1e-12,
      );
    }
  });

  it('rejects tensors of the wrong dtype, shape or g_idx range', () => {
    const good = new Map(autogptqRecords(prefix, packAutoGptq(result)).map((r) => [r.name, r]));
    const read = (patch: Partial<Record<string, TensorRecord>>) => (name: string) => {
      const r = patch[name] ?? good.get(name);
      if (!r) throw new Error(`missing ${name}`);
      return r;
    };
    const scales = good.get(`${prefix}.scales`)!;
    const asF32 = { ...scales, dtype: 'F32' as const, shape: [2, 16] };
    expect(() => autogptqFromRecords(prefix, read({ [`${prefix}.scales`]: asF32 }))).toThrow(
      QuantFormatError,
    );
    const fewGroups = { ...scales, shape: [2, 32] };
    expect(() => autogptqFromRecords(prefix, read({ [`${prefix}.scales`]: fewGroups }))).toThrow(/scales/);
    const gi = Int32Array.from(result.gIdx);
    gi[3] = 9;
    const badIdx = {
      name: `${prefix}.g_idx`,
      dtype: 'I32' as const,
      shape: [64],
      data: new Uint8Array(gi.buffer),
    };
    expect(() => autogptqFromRecords(prefix, read({ [`${prefix}.g_idx`]: badIdx }))).toThrow(/g_idx\[3\]/);
  });

  it('the unpacked scales are the fp16 values', () => {
    const p = packAutoGptq(result);
    const u = unpackAutoGptq(p);
    for (let i = 0; i < u.scales.length; i++) expect(u.scales[i]).toBe(f16ToF32(p.scales[i]));
  });
});

describe('quantize_config.json', () => {
  it('MiniCPM-2B-sft-int4: 4 bits, groups of 32, act-order, asymmetric, true-sequential', () => {
    expect(MINICPM_INT4_CONFIG).toMatchObject({
      bits: 4,
      group_size: 32,
      desc_act: true,
      sym: false,
      damp_percent: 0.01,
      true_sequential: true,
    });
    expect(quantizeConfigFor({ groupSize: 32, actOrder: true })).toEqual(MINICPM_INT4_CONFIG);
  });

  it('is written and parsed back; AutoGPTQ defaults fill optional fields', async () => {
    await writeQuantizeConfig(dir, MINICPM_INT4_CONFIG);
    const json: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'quantize_config.json'), 'utf8'));
    expect(parseQuantizeConfig(json)).toEqual(MINICPM_INT4_CONFIG);
    expect(parseQuantizeConfig({ bits: 4, group_size: 128, desc_act: 0 })).toMatchObject({
      desc_act: false,
      sym: true,
      damp_percent: 0.01,
      checkpoint_format: 'gptq',
    });
  });

  it('rejects files it cannot honour, saying which field', () => {
    expect(() => parseQuantizeConfig([])).toThrow(QuantFormatError);
    expect(() => parseQuantizeConfig({ group_size: 32 })).toThrow(/"bits" is missing/);
    expect(() => parseQuantizeConfig({ bits: 5, group_size: 32 })).toThrow(/"bits"/);
    expect(() => parseQuantizeConfig({ bits: 4, group_size: 0 })).toThrow(/"group_size"/);
    expect(() => parseQuantizeConfig({ bits: 4, group_size: 32, sym: 'yes' })).toThrow(/"sym"/);
    expect(() => parseQuantizeConfig({ bits: 4, group_size: 32, checkpoint_format: 'gptq_v2' })).toThrow(
      /gptq_v2/,
    );
    expect(() => parseQuantizeConfig({ bits: 4, group_size: 32, quant_method: 'awq' })).toThrow(
      /quant_method/,
    );
  });
});
