/**
 * ggml block codecs against closed forms: hand-made Q8_0/Q4_0 blocks with known bytes, the rounding rules
 * of ggml's reference quantizers (roundf halves away from zero; Q4_0's trunc(x/d + 8.5) clamped at 15),
 * and Q4_K / Q6_K super-blocks packed element by element from chosen scales, mins and quants, whose
 * values are then d·sc·q − dmin·m and d·sc·(q − 32).
 */
import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../../src/io/dtypes.js';
import {
  decodeGgmlBlocks,
  decodeQ4_0,
  decodeQ4_K,
  decodeQ6_K,
  decodeQ8_0,
  encodeQ4_0,
  encodeQ8_0,
  Q4_K_BYTES,
  Q6_K_BYTES,
} from '../../src/io/gguf-blocks.js';
import { Rng } from '../../src/tensor/index.js';

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);

describe('Q8_0', () => {
  it('encodes a block with amax 127 to d = 1 and q = roundf(x) (halves away from zero)', () => {
    const x = new Float32Array(32);
    for (let j = 0; j < 32; j++) x[j] = j - 16 + (j % 2 ? 0.5 : 0);
    x[5] = 127;
    x[6] = -2.5;
    const b = encodeQ8_0(x);
    expect(b.byteLength).toBe(34);
    expect(u16(b, 0)).toBe(0x3c00); // fp16 1.0
    const q = new Int8Array(b.buffer, 2, 32);
    for (let j = 0; j < 32; j++) {
      const v = x[j];
      const want = v < 0 ? -Math.round(-v) : Math.round(v);
      expect(q[j]).toBe(want);
    }
    expect(q[6]).toBe(-3);
    expect(decodeQ8_0(b, 32)[5]).toBe(127);
  });

  it('an all-zero block has d = 0 and decodes to zeros; lengths must be whole blocks', () => {
    const b = encodeQ8_0(new Float32Array(64));
    expect([...b].every((v) => v === 0)).toBe(true);
    expect([...decodeQ8_0(b, 64)].every((v) => v === 0)).toBe(true);
    expect(() => encodeQ8_0(new Float32Array(33))).toThrow(/multiple of the block size 32/);
    expect(() => decodeQ8_0(b.subarray(0, 60), 64)).toThrow(/expected 68 bytes/);
  });

  it('round trip: every quant is the nearest level of x/d, error ≤ d/2 plus the fp16 rounding of d', () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 32 * 40 }, () => rng.normal() * 0.1);
    const b = encodeQ8_0(x);
    const y = decodeQ8_0(b, x.length);
    for (let blk = 0; blk < 40; blk++) {
      const d = f16ToF32(u16(b, blk * 34));
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[blk * 32 + j]));
      expect(Math.abs(d - amax / 127)).toBeLessThanOrEqual((amax / 127) * 2 ** -11);
      for (let j = 0; j < 32; j++) {
        const i = blk * 32 + j;
        const q = new Int8Array(b.buffer, blk * 34 + 2, 32)[j];
        expect(Math.abs((x[i] * 127) / amax - q)).toBeLessThanOrEqual(0.5 + 1e-5);
        expect(y[i]).toBe(Math.fround(q * d));
      }
    }
  });
});

describe('Q4_0', () => {
  it('maps the value of largest magnitude to −8 (sign kept): d = max/−8, q = min(15, trunc(x/d + 8.5))', () => {
    // max −8 → d = 1: integers v in [−8, 7] store v + 8; 7.5 would be 16 and clamps to 15.
    const x = Float32Array.from({ length: 32 }, (_, j) => (j % 16) - 8);
    x[31] = 7.5;
    x[30] = -7.6; // −7.6 + 8.5 = 0.9 → 0
    const b = encodeQ4_0(x);
    expect(b.byteLength).toBe(18);
    expect(u16(b, 0)).toBe(0x3c00);
    const q = (j: number) => (j < 16 ? b[2 + j] & 15 : b[2 + j - 16] >> 4);
    for (let j = 0; j < 30; j++) expect(q(j)).toBe((j % 16) - 8 + 8);
    expect(q(31)).toBe(15);
    expect(q(30)).toBe(0);
    const y = decodeQ4_0(b, 32);
    expect(y[0]).toBe(-8);
    expect(y[31]).toBe(7);
    // A positive maximum gives a negative d: 8 → q 0 (value −8·d = 8).
    const pos = Float32Array.from({ length: 32 }, (_, j) => (j === 3 ? 8 : j === 4 ? -4 : 0));
    const p = encodeQ4_0(pos);
    expect(u16(p, 0)).toBe(f32ToF16(-1));
    expect(p[2 + 3] & 15).toBe(0);
    expect(p[2 + 4] & 15).toBe(12);
    expect(decodeQ4_0(p, 32)[3]).toBe(8);
  });

  it('round trip on random data: |x − x̂| ≤ |d| (the clamp at 15 costs at most one level)', () => {
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 32 * 50 }, () => rng.normal());
    const b = encodeQ4_0(x);
    const y = decodeQ4_0(b, x.length);
    for (let blk = 0; blk < 50; blk++) {
      const d = Math.abs(f16ToF32(u16(b, blk * 18)));
      for (let j = 0; j < 32; j++) {
        const i = blk * 32 + j;
        expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(d * 1.01);
      }
    }
    expect(decodeGgmlBlocks('Q4_0', b, x.length)).toEqual(y);
    expect(decodeGgmlBlocks('Q5_1', b, x.length)).toBeUndefined();
  });
});

/** Packs a Q4_K super-block element by element (ggml's layout, written out independently). */
function packQ4K(d: number, dmin: number, sc: number[], mn: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(Q4_K_BYTES);
  const v = new DataView(b.buffer);
  v.setUint16(0, f32ToF16(d), true);
  v.setUint16(2, f32ToF16(dmin), true);
  const s = 4;
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      b[s + j] |= sc[j] & 63;
      b[s + j + 4] |= mn[j] & 63;
    } else {
      b[s + j + 4] |= (sc[j] & 15) | ((mn[j] & 15) << 4);
      b[s + j - 4] |= (sc[j] >> 4) << 6;
      b[s + j] |= (mn[j] >> 4) << 6;
    }
  }
  for (let i = 0; i < 256; i++) {
    const sub = i >> 5; // sub-block 0..7: chunk sub>>1, low nibble for even sub-blocks
    const byte = 16 + 32 * (sub >> 1) + (i & 31);
    b[byte] |= sub & 1 ? q[i] << 4 : q[i];
  }
  return b;
}

/** Packs a Q6_K super-block element by element. */
function packQ6K(d: number, sc: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(Q6_K_BYTES);
  const v = new DataView(b.buffer);
  for (let i = 0; i < 256; i++) {
    const h = i >> 7;
    const k = (i >> 5) & 3; // quarter of the half
    const l = i & 31;
    const low = q[i] & 15;
    const ql = 64 * h + l + (k & 1 ? 32 : 0);
    b[ql] |= k & 2 ? low << 4 : low;
    b[128 + 32 * h + l] |= (q[i] >> 4) << (2 * k);
  }
  for (let j = 0; j < 16; j++) v.setInt8(192 + j, sc[j]);
  v.setUint16(208, f32ToF16(d), true);
  return b;
}

describe('Q4_K and Q6_K (decode only)', () => {
  it('Q4_K: x = d·sc_j·q − dmin·m_j for hand-made 6-bit scales and mins (all 64 values of each)', () => {
    const rng = new Rng(11);
    const blocks: Uint8Array[] = [];
    const want: number[] = [];
    for (let blk = 0; blk < 3; blk++) {
      const d = [0.5, 0.03125, 2 ** -10][blk];
      const dmin = [0.25, 0.0625, 2 ** -12][blk];
      const sc = Array.from({ length: 8 }, (_, j) => (blk * 8 + j * 9) % 64);
      const mn = Array.from({ length: 8 }, (_, j) => 63 - ((blk * 5 + j * 7) % 64));
      if (blk === 0) [sc[4], mn[4], sc[7], mn[7]] = [63, 63, 48, 33]; // top bits of the j ≥ 4 fields
      const q = Array.from({ length: 256 }, () => Math.floor(rng.uniform() * 16));
      blocks.push(packQ4K(d, dmin, sc, mn, q));
      for (let i = 0; i < 256; i++) want.push(d * sc[i >> 5] * q[i] - dmin * mn[i >> 5]);
    }
    const src = new Uint8Array(3 * Q4_K_BYTES);
    blocks.forEach((b, i) => src.set(b, i * Q4_K_BYTES));
    const got = decodeQ4_K(src, 768);
    for (let i = 0; i < 768; i++) expect(got[i]).toBeCloseTo(want[i], 6);
    expect(() => decodeQ4_K(src.subarray(1), 768)).toThrow(/truncated/);
  });

  it('Q6_K: x = d·sc_{i/16}·(q − 32) for signed 8-bit scales and 6-bit quants', () => {
    const rng = new Rng(12);
    const d = 0.0078125;
    const sc = Array.from({ length: 16 }, (_, j) => ((j * 37) % 256) - 128);
    sc[0] = 127;
    const q = Array.from({ length: 256 }, () => Math.floor(rng.uniform() * 64));
    q[0] = 63;
    q[255] = 0;
    const got = decodeQ6_K(packQ6K(d, sc, q), 256);
    for (let i = 0; i < 256; i++) expect(got[i]).toBe(Math.fround(d * sc[i >> 4] * (q[i] - 32)));
    expect(() => decodeQ6_K(new Uint8Array(10), 256)).toThrow(/expected 210 bytes/);
  });
});
