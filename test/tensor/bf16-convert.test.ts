/**
 * The contiguous f32 ⇄ bf16 runs (src/backends/cpu/bf16-convert.ts, cast's fast path) against the
 * per-element twins f32ToBf16 / bf16ToF32: every rounding case (ties to even both ways, carries into
 * the exponent, overflow to infinity), signed zeros, subnormals, infinities and NaNs with payloads, at
 * offsets and odd lengths; the addon's C loops (native/src/convert-bf16.c) bit for bit against these
 * runs; and cast over a contiguous tensor equals cast over a strided view of it.
 */
import { describe, expect, it } from 'vitest';
import { nativeBackend, refBackend } from '../../src/backends/index.js';
import type { NnKernels } from '../../src/backends/kernels.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { bf16ToF32Run, f32ToBf16Run } from '../../src/backends/cpu/bf16-convert.js';
import * as T from '../../src/tensor/index.js';
import { bf16ToF32, f32ToBf16, Rng, Tensor } from '../../src/tensor/index.js';

const bits = (xs: number[]): Float32Array => new Float32Array(Uint32Array.from(xs).buffer);

const SPECIAL = bits([
  0x00000000,
  0x80000000, // ±0
  0x00000001,
  0x807fffff,
  0x00008000,
  0x00018000, // subnormals, ties among them
  0x3f808000,
  0x3f818000, // ties: to even down (…0 kept), to even up (…1 rounds up)
  0x3f808001,
  0x3f807fff, // just above / below a tie
  0x3fffffff,
  0x7f7fffff,
  0xff7f8000, // carry into the exponent, overflow to ±inf
  0x7f800000,
  0xff800000, // ±inf
  0x7fc00000,
  0x7f800001,
  0xffbfffff,
  0x7fa00000, // NaNs: quiet, signalling, payloads
]);

describe('f32 ⇄ bf16 runs match the per-element conversions', () => {
  it('f32 → bf16 over every rounding case, random values, offsets and odd lengths', () => {
    const rng = new Rng(3);
    const rand = Float32Array.from(
      { length: 301 },
      () => rng.normal() * 10 ** Math.floor(rng.uniform() * 12 - 6),
    );
    const src = new Float32Array(SPECIAL.length + rand.length);
    src.set(SPECIAL); // same-type set copies bits: NaN payloads survive
    src.set(rand, SPECIAL.length);
    const srcBits = new Uint32Array(src.buffer);
    for (const [off, n] of [
      [0, src.length],
      [3, 1],
      [5, 17],
      [1, src.length - 1],
    ]) {
      const got = new Uint16Array(n + 2).fill(0xdead);
      f32ToBf16Run(src, off, got, 2, n);
      // NaN: the twin sees only what a JS number keeps of it; the run keeps sign and payload, quieted
      const want = Array.from({ length: n }, (_, i) =>
        Number.isNaN(src[off + i]) ? (srcBits[off + i] >>> 16) | 0x40 : f32ToBf16(src[off + i]),
      );
      expect(Array.from(got.subarray(2)), `offset ${off}, ${n}`).toEqual(want);
      expect(got[0]).toBe(0xdead);
    }
  });

  it('bf16 → f32 widens every bit pattern exactly', () => {
    const src = Uint16Array.from({ length: 1 << 16 }, (_, i) => i);
    const got = new Float32Array(src.length + 3);
    bf16ToF32Run(src, 0, got, 3, src.length);
    const gotBits = new Uint32Array(got.buffer, 12);
    for (let i = 0; i < src.length; i++) {
      if (gotBits[i] !== (i << 16) >>> 0)
        throw new Error(`bits ${i.toString(16)}: ${gotBits[i].toString(16)}`);
      const v = bf16ToF32(i);
      if (!Number.isNaN(v)) expect(got[3 + i]).toBe(v);
    }
    const part = new Float32Array(4);
    bf16ToF32Run(src, 0x3f80, part, 1, 2);
    expect(Array.from(part)).toEqual([0, 1, bf16ToF32(0x3f81), 0]);
  });

  it('cast: a contiguous tensor (the run) and a strided view (the per-element loop) agree', () => {
    T.setBackend(refBackend());
    const data = new Float32Array([...SPECIAL, ...SPECIAL.map((x) => x * 3.7)]);
    const x = Tensor.from(data, [2, SPECIAL.length]);
    T.noGrad(() =>
      T.scope(() => {
        const fast = T.cast(x, 'bf16');
        const slow = T.cast(T.transpose(T.contiguous(T.transpose(x, 0, 1)), 0, 1), 'bf16');
        expect(Array.from(fast.data as Uint16Array)).toEqual(Array.from(slow.data as Uint16Array));
        const back = T.cast(fast, 'f32');
        const backSlow = T.cast(T.transpose(T.contiguous(T.transpose(fast, 0, 1)), 0, 1), 'f32');
        expect(
          new Uint32Array(
            (back.data as Float32Array).buffer,
            (back.data as Float32Array).byteOffset,
            back.size,
          ),
        ).toEqual(
          new Uint32Array(
            (backSlow.data as Float32Array).buffer,
            (backSlow.data as Float32Array).byteOffset,
            backSlow.size,
          ),
        );
      }),
    );
  });

  const addon = loadNativeKernels() as (NnKernels & object) | null;
  it.skipIf(!addon?.f32ToBf16)(
    'the addon converts bit for bit as the runs do, and the native backend casts with it',
    () => {
      const k = addon!;
      // every f32 whose high half is any pattern, with low halves around the rounding point
      const n = 1 << 16;
      const lows = [0x0000, 0x7fff, 0x8000, 0x8001, 0xffff];
      const src = new Float32Array(n * lows.length + 3);
      const srcBits = new Uint32Array(src.buffer);
      for (let hi = 0; hi < n; hi++)
        lows.forEach((lo, j) => (srcBits[3 + hi * lows.length + j] = ((hi << 16) | lo) >>> 0));
      const m = src.length - 3;
      const got = new Uint16Array(m + 1);
      const want = new Uint16Array(m + 1);
      k.f32ToBf16!(src, 3, got, 1, m);
      f32ToBf16Run(src, 3, want, 1, m);
      expect(got).toEqual(want);
      const wide = new Float32Array(m + 2);
      const wideWant = new Float32Array(m + 2);
      k.bf16ToF32!(got, 1, wide, 2, m);
      bf16ToF32Run(got, 1, wideWant, 2, m);
      expect(new Uint32Array(wide.buffer)).toEqual(new Uint32Array(wideWant.buffer));
      expect(() => k.f32ToBf16!(src, 0, got, 0, src.length + 1)).toThrow(/needs/);

      const native = nativeBackend();
      if (!native) return;
      T.setBackend(native);
      T.noGrad(() =>
        T.scope(() => {
          const x = Tensor.from(src.subarray(3, 3 + 4099), [4099]);
          const y = T.cast(x, 'bf16');
          expect(y.data).toEqual(want.subarray(1, 4100));
        }),
      );
    },
  );
});
