// QWeight repacking is lossless: every AutoGPTQ layer (v1 and v2 zeros, 2/4/8 bits, act-order, group
// sizes 32 and 64, rows not a multiple of 16) and every GGUF Q4_0 / Q8_0 row dequantizes to exactly what
// the stored format means; bad layers get typed errors that name the tensor.

import { describe, expect, it } from 'vitest';
import {
  dequantizePacked,
  packAutoGptq,
  QuantFormatError,
  QuantShapeError,
  type PackedLinear,
  type QuantizedLinear,
} from '../../src/quant/index.js';
import { planRuns } from '../../src/quant/qplan.js';
import {
  dequantizeQWeight,
  getCode,
  isSymmetric,
  paramAt,
  QBLOCK,
  qweightBytes,
  streamedBytes,
} from '../../src/quant/qweight.js';
import { quantizeToQWeight } from '../../src/quant/qweight-quantize.js';
import { repackGptq, repackQ4_0, repackQ8_0, type GptqTensors } from '../../src/quant/qweight-repack.js';
import { f16ToF32, f32ToF16, Rng } from '../../src/tensor/index.js';
import { thrown } from './helpers.js';

/** A random layer; act-order shuffles whole groups of columns (as GPTQ's g_idx does). */
function randomLayer(
  rng: Rng,
  out: number,
  cols: number,
  bits: number,
  groupSize: number,
  actOrder: boolean,
): QuantizedLinear {
  const maxq = 2 ** bits - 1;
  const groups = cols / groupSize;
  const order = Int32Array.from({ length: cols }, (_, c) => c);
  if (actOrder) {
    for (let i = cols - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  const gIdx = new Int32Array(cols);
  for (let i = 0; i < cols; i++) gIdx[order[i]] = Math.floor(i / groupSize);
  const q = new Uint8Array(out * cols);
  for (let i = 0; i < q.length; i++) q[i] = Math.floor(rng.uniform() * (maxq + 1));
  const zeros = new Uint8Array(groups * out);
  const scales = new Float64Array(groups * out);
  for (let i = 0; i < zeros.length; i++) {
    zeros[i] = 1 + Math.floor(rng.uniform() * maxq); // storable in v1 (zero − 1 ≥ 0)
    scales[i] = f16ToF32(f32ToF16(0.001 + rng.uniform() * 0.1));
  }
  return { out, in: cols, bits, groupSize, sym: false, q, scales, zeros, gIdx, weight: new Float64Array(0) };
}

function tensors(p: PackedLinear): GptqTensors {
  return {
    qweight: p.qweight,
    qzeros: p.qzeros,
    scales: p.scales,
    gIdx: p.gIdx,
    out: p.out,
    in: p.in,
    groups: p.groups,
  };
}

/** v2 stores the zero itself: rebuild qzeros from the v1 words (each field + 1). */
function toV2(p: PackedLinear): Int32Array {
  const per = 32 / p.bits;
  const mask = 2 ** p.bits - 1;
  return p.qzeros.map((word) => {
    let w = 0;
    for (let j = 0; j < per; j++) w |= (((word >>> (p.bits * j)) & mask) + 1) << (p.bits * j);
    return w;
  });
}

describe('repackGptq', () => {
  for (const [bits, out, cols, gs, act] of [
    [4, 40, 64, 32, false],
    [4, 40, 128, 32, true],
    [4, 24, 128, 64, true],
    [2, 48, 96, 32, true],
    [8, 20, 64, 32, true],
    [8, 36, 128, 64, false],
  ] as const) {
    it(`${bits}-bit ${out}×${cols} g${gs}${act ? ' act-order' : ''}: dequantizes exactly as the packed layer`, () => {
      const p = packAutoGptq(randomLayer(new Rng(bits * 100 + cols), out, cols, bits, gs, act));
      const want = dequantizePacked(p);
      const w = repackGptq(tensors(p), bits, 1, 'layer');
      expect(w.bits).toBe(bits);
      // the codes take the file's bytes, out·in·bits/8, with out padded to whole tiles of 16 rows
      expect(w.codes.byteLength).toBe((w.tiles * 16 * cols * bits) / 8);
      expect(w.perm === null).toBe(!act);
      expect(dequantizeQWeight(w)).toEqual(want);
      // v2: the same values from zeros stored without the −1
      expect(dequantizeQWeight(repackGptq({ ...tensors(p), qzeros: toV2(p) }, bits, 0, 'layer'))).toEqual(
        want,
      );
      // padded rows of the last tile are inert
      for (let o = out; o < w.tiles * 16; o++) {
        for (let j = 0; j < cols; j += 7) expect(getCode(w, o, j)).toBe(0);
        expect(w.scales[paramAt(w, o, 0)]).toBe(0);
      }
    });
  }

  // every stored zero all ones (a nibble 15, a pair 3) → v1 zero 16 / 4
  for (const [bits, out, cols, seed, zero] of [
    [4, 8, 32, 5, 16],
    [2, 16, 64, 15, 4],
  ] as const)
    it(`holds a v1 zero of ${zero} in a ${bits}-bit layer (stored ${zero - 1})`, () => {
      const p = packAutoGptq(randomLayer(new Rng(seed), out, cols, bits, 32, false));
      p.qzeros.fill(-1);
      const w = repackGptq(tensors(p), bits, 1, 'l');
      expect(w.zeros[0]).toBe(zero);
      expect(dequantizeQWeight(w)).toEqual(dequantizePacked(p));
    });

  it('names the tensor and what is supported in its errors', () => {
    const p = packAutoGptq(randomLayer(new Rng(6), 8, 64, 4, 32, false));
    const t = tensors(p);
    const e = (fn: () => unknown) => thrown(fn) as Error;
    expect(e(() => repackGptq(t, 3, 1, 'model.layers.0.mlp.up_proj'))).toBeInstanceOf(QuantFormatError);
    expect(e(() => repackGptq(t, 3, 1, 'model.layers.0.mlp.up_proj')).message).toMatch(
      /up_proj: 3-bit GPTQ is not supported \(2-, 4- and 8-bit/,
    );
    expect(e(() => repackGptq({ ...t, qweight: t.qweight.subarray(1) }, 4, 1, 'x.q_proj')).message).toMatch(
      /x\.q_proj: qweight/,
    );
    expect(e(() => repackGptq({ ...t, scales: t.scales.subarray(1) }, 4, 1, 'x')).message).toMatch(/scales/);
    expect(e(() => repackGptq({ ...t, qzeros: t.qzeros.subarray(1) }, 4, 1, 'x')).message).toMatch(/qzeros/);
    expect(e(() => repackGptq({ ...t, gIdx: t.gIdx.subarray(1) }, 4, 1, 'x')).message).toMatch(/g_idx/);
    const bad = Int32Array.from(t.gIdx);
    bad[3] = 9;
    expect(e(() => repackGptq({ ...t, gIdx: bad }, 4, 1, 'x')).message).toMatch(/g_idx\[3\] = 9/);
    // groups of 16 columns cannot be blocks of 32
    const g16 = Int32Array.from({ length: 64 }, (_, c) => Math.floor(c / 16));
    const p16 = packAutoGptq(randomLayer(new Rng(7), 8, 64, 4, 16, false));
    expect(e(() => repackGptq({ ...tensors(p16), gIdx: g16 }, 4, 1, 'x.o_proj')).message).toMatch(
      /x\.o_proj\.g_idx.*multiples of 32/,
    );
    // 8-bit v1 zero 256 does not fit the W8 kernels' uint8 zeros
    const p8 = packAutoGptq(randomLayer(new Rng(8), 4, 32, 8, 32, false));
    p8.qzeros.fill(-1);
    expect(e(() => repackGptq(tensors(p8), 8, 1, 'x.down_proj')).message).toMatch(
      /down_proj\.qzeros: zero point 256/,
    );
    // input width not a multiple of 32
    const p48 = packAutoGptq(randomLayer(new Rng(9), 8, 48, 4, 48, false));
    expect(e(() => repackGptq(tensors(p48), 4, 1, 'x'))).toBeInstanceOf(QuantFormatError);
  });
});

/** Deterministic bytes. */
function bytes(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r.uniform() * 256));
}

describe('GGUF Q4_0 / Q8_0 rows', () => {
  it('Q4_0 (d·(q − 8), low nibbles 0–15, high 16–31) repacks losslessly', () => {
    const out = 19;
    const cols = 96;
    const data = bytes(out * (cols / 32) * 18, 1);
    for (let i = 0; i < data.length; i += 18)
      [data[i], data[i + 1]] = [f32ToF16(0.01 * (1 + (i % 5))) & 255, f32ToF16(0.01 * (1 + (i % 5))) >> 8];
    const got = dequantizeQWeight(repackQ4_0(data, out, cols));
    for (let o = 0; o < out; o++) {
      for (let c = 0; c < cols; c++) {
        const blk = (o * (cols / QBLOCK) + Math.floor(c / 32)) * 18;
        const d = f16ToF32(data[blk] | (data[blk + 1] << 8));
        const i = c % 32;
        const q = i < 16 ? data[blk + 2 + i] & 15 : data[blk + 2 + i - 16] >> 4;
        expect(got[o * cols + c]).toBe(Math.fround(d * (q - 8)));
      }
    }
    expect(() => repackQ4_0(data.subarray(1), out, cols, 'token_embd')).toThrow(/token_embd: Q4_0 data/);
  });

  it('Q8_0 (d·q, q int8) repacks losslessly', () => {
    const out = 17;
    const cols = 64;
    const data = bytes(out * (cols / 32) * 34, 2);
    for (let i = 0; i < data.length; i += 34)
      [data[i], data[i + 1]] = [f32ToF16(0.02) & 255, f32ToF16(0.02) >> 8];
    const got = dequantizeQWeight(repackQ8_0(data, out, cols));
    for (let o = 0; o < out; o++) {
      for (let c = 0; c < cols; c++) {
        const blk = (o * (cols / 32) + Math.floor(c / 32)) * 34;
        const q = (data[blk + 2 + (c % 32)] << 24) >> 24;
        expect(got[o * cols + c]).toBe(Math.fround(f16ToF32(f32ToF16(0.02)) * q));
      }
    }
    expect(() => repackQ8_0(data, out, 48)).toThrow(QuantShapeError);
  });
});

// Symmetric weights (every zero of the real rows 2^(bits−1)) go to the kernels with their bit set in the
// `sym` mask, and a decode token does not stream their zeros: GGUF Q4_0/Q8_0, AutoGPTQ sym=True (v1 zero
// 2^(bits−1) stored as 2^(bits−1) − 1), and the int8 head, whose last tile's padding rows hold zero 0.
describe('symmetric weights', () => {
  it('are recognized in every format that makes them, and only those', () => {
    const q4 = repackQ4_0(bytes(19 * 3 * 18, 3), 19, 96);
    const q8 = repackQ8_0(bytes(17 * 2 * 34, 4), 17, 64);
    const layer = (bits: number, mid: boolean) => {
      const l = randomLayer(new Rng(bits), 48, 64, bits, 32, false);
      if (mid) l.zeros.fill(2 ** (bits - 1));
      return repackGptq(tensors(packAutoGptq(l)), bits, 1, 'layer');
    };
    const head = quantizeToQWeight(
      Float32Array.from({ length: 19 * 64 }, (_, i) => Math.sin(i)),
      19,
      64,
      8,
    );
    for (const w of [q4, q8, layer(2, true), layer(4, true), layer(8, true), head]) {
      expect(isSymmetric(w)).toBe(true);
      expect(streamedBytes(w)).toBe(qweightBytes(w) - w.zeros.byteLength);
    }
    expect(head.zeros[paramAt(head, 18, 0) + 1]).toBe(0); // a padding row: not looked at
    for (const w of [layer(2, false), layer(4, false), layer(8, false)]) {
      expect(isSymmetric(w)).toBe(false);
      expect(streamedBytes(w)).toBe(qweightBytes(w));
    }
    // a run's mask has the bits of its symmetric weights
    const sym = [q8, layer(8, false), head];
    expect(planRuns(sym, true).map((r) => r.sym)).toEqual([0b101]);
    expect(planRuns(sym, false).map((r) => r.sym)).toEqual([1, 0, 1]);
  });
});
