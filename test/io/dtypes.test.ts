import { describe, expect, it } from 'vitest';
import {
  bf16ToF32,
  castFloat,
  f16ToF32,
  f32BitsToBf16,
  f32BitsToF16,
  f32ToBf16,
  f32ToF16,
  fromFloat32,
  fromTypedArray,
  toFloat32,
  typedView,
  type TensorRecord,
} from '../../src/io/dtypes.js';

const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromBits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];

/**
 * Independent oracle: round |x| to a float with `mant` fraction bits and minimum exponent `emin`,
 * ties to even, in double arithmetic (exact for float32 inputs); overflow past `max` gives infinity.
 */
function roundRef(x: number, mant: number, emin: number, max: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = emin;
  while (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - mant);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp;
  return Math.sign(x) * (v > max ? Infinity : v);
}
const refF16 = (x: number) => roundRef(x, 10, -14, 65504);
const refBf16 = (x: number) => roundRef(x, 7, -126, fromBits(0x7f7f0000));

describe('bf16', () => {
  it('rounds to nearest, ties to even', () => {
    expect(f32BitsToBf16(0x3f808000)).toBe(0x3f80); // exactly halfway, even below
    expect(f32BitsToBf16(0x3f818000)).toBe(0x3f82); // exactly halfway, even above
    expect(f32BitsToBf16(0x3f808001)).toBe(0x3f81); // just above halfway
    expect(f32BitsToBf16(0x3f807fff)).toBe(0x3f80); // just below halfway
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // max float rounds to inf
    expect(f32BitsToBf16(0x80000000)).toBe(0x8000); // -0
    expect(f32BitsToBf16(0x00000001)).toBe(0x0000); // tiny subnormal
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(NaN)).toBe(0x7fc0);
    expect(f32BitsToBf16(0x7f800001)).toBe(0x7fc0); // signalling NaN must not become inf
  });

  it('matches an independent oracle on random floats', () => {
    let seed = 12345;
    const bad: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const x = fromBits(seed);
      if (!Number.isNaN(x) && !Object.is(bf16ToF32(f32ToBf16(x)), refBf16(x))) bad.push(x);
    }
    expect(bad).toEqual([]);
  });

  it('round-trips every bf16 value', () => {
    const bad: number[] = [];
    for (let b = 0; b < 65536; b++) {
      if (!Number.isNaN(bf16ToF32(b)) && f32BitsToBf16(bitsOf(bf16ToF32(b))) !== b) bad.push(b);
    }
    expect(bad).toEqual([]);
  });
});

describe('f16', () => {
  it('handles ties, subnormals, overflow and NaN', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half of it: tie → 0
    expect(f32ToF16(2 ** -25 * 1.0000001)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 units: tie → 2
    expect(f32ToF16(1023 * 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie → even is 2^16 → inf
    expect(f32ToF16(1e9)).toBe(0x7c00);
    expect(f32ToF16(-1e9)).toBe(0xfc00);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1e-10)).toBe(0x0000);
    const nan = f32ToF16(NaN);
    expect((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0).toBe(true);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x8001)).toBe(-(2 ** -24));
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it('matches an independent oracle on random floats and on the subnormal range', () => {
    let seed = 777;
    const bad: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      // Half of the samples in f16's range (exponents 100..143), where the interesting cases are.
      const u = i % 2 ? seed : (seed & 0x807fffff) | ((100 + (seed % 44)) << 23);
      const x = fromBits(u >>> 0);
      if (!Number.isNaN(x) && !Object.is(f16ToF32(f32ToF16(x)), refF16(x))) bad.push(x);
    }
    expect(bad).toEqual([]);
  });

  it('round-trips every f16 value', () => {
    const bad: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if (!Number.isNaN(f16ToF32(h)) && f32BitsToF16(bitsOf(f16ToF32(h))) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });
});

describe('records', () => {
  it('converts between float dtypes', () => {
    const x = new Float32Array([1, -2.5, 3.140625, 1e-6, 70000]);
    const bf = fromFloat32('x', [5], x, 'BF16');
    const h = fromFloat32('x', [5], x, 'F16');
    expect(bf.data.byteLength).toBe(10);
    expect(Array.from(toFloat32(bf))).toEqual(Array.from(x, (v) => bf16ToF32(f32ToBf16(v))));
    expect(Array.from(toFloat32(h))).toEqual(Array.from(x, (v) => f16ToF32(f32ToF16(v))));
    expect(toFloat32(h)[4]).toBe(Infinity);
    const d = fromFloat32('x', [5], x, 'F64');
    expect(Array.from(typedView(d) as Float64Array)).toEqual(Array.from(x));
    expect(Array.from(toFloat32(castFloat(d, 'F32')))).toEqual(Array.from(x));
    expect(castFloat(bf, 'BF16')).toBe(bf);
  });

  it('gives typed views of every dtype, copying misaligned data', () => {
    const i32 = fromTypedArray('a', [2, 2], new Int32Array([1, -2, 3, -4]));
    expect(i32.dtype).toBe('I32');
    const buf = new Uint8Array(17);
    buf.set(i32.data, 1); // misaligned by one byte
    const mis: TensorRecord = { ...i32, data: buf.subarray(1) };
    expect(Array.from(typedView(mis) as Int32Array)).toEqual([1, -2, 3, -4]);
    expect(Array.from(toFloat32(mis))).toEqual([1, -2, 3, -4]);
    const i64 = fromTypedArray('b', [2], new BigInt64Array([-5n, 2n ** 40n]));
    expect(Array.from(typedView(i64) as BigInt64Array)).toEqual([-5n, 2n ** 40n]);
    expect(Array.from(toFloat32(i64))).toEqual([-5, 2 ** 40]);
    expect(fromTypedArray('c', [2], new Uint8Array([1, 0]), 'BOOL').dtype).toBe('BOOL');
    expect(fromTypedArray('d', [1], new Int8Array([-1])).dtype).toBe('I8');
    expect(fromTypedArray('e', [1], new Int16Array([-1])).dtype).toBe('I16');
  });

  it('rejects data that does not match the shape', () => {
    expect(() => fromTypedArray('x', [3], new Float32Array(2))).toThrow(/needs 12 bytes but data has 8/);
    expect(() => fromFloat32('x', [2, 2], new Float32Array(3))).toThrow(/4 elements/);
    expect(() => typedView({ name: 'y', dtype: 'F16', shape: [3], data: new Uint8Array(4) })).toThrow(
      RangeError,
    );
  });
});
