/**
 * The addon's f32ToBf16 over the thread pool (native/src/prefill-convert.c) against the per-element
 * TypeScript twin f32ToBf16: runs long enough to split (a prefill's KV append is 1.2 M values), lengths
 * that do not divide into the tasks' 16-value multiples, an offset into the arrays, and the values whose
 * rounding is special (ties to even, the largest finite values rounding to infinity, NaNs with payloads,
 * subnormals, signed zeros) spread over every task's range, at 1, 2 and 3 threads.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { NnKernels } from '../../src/backends/kernels.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { f32ToBf16, Rng } from '../../src/tensor/index.js';

const addon = loadNativeKernels();
const nn = addon as unknown as NnKernels;
const threads0 = addon?.getThreads();

const SPECIAL = new Float32Array(
  new Uint32Array([
    0x3f808000, // a tie, even below: rounds down
    0x3f818000, // a tie, odd below: rounds up
    0x7f7fffff, // the largest finite: rounds to infinity
    0xff7fffff,
    0x7fc00001, // a quiet NaN with payload
    0x7f800001, // a signalling NaN: made quiet
    0xffa00000,
    0x00000001, // the smallest subnormal
    0x807fffff,
    0x80000000, // -0
    0x7f800000, // infinity
  ]).buffer,
);

describe.skipIf(!addon)('f32ToBf16 over the pool matches the per-element twin', () => {
  afterAll(() => {
    if (threads0) addon?.setThreads(threads0);
  });
  for (const threads of [1, 2, 3])
    it(`${threads} thread(s)`, () => {
      addon!.setThreads(threads);
      const rng = new Rng(5 + threads);
      for (const n of [1, 131071, 131072, 200003, 512 * 2304 + 5]) {
        const off = 3;
        const x = Float32Array.from({ length: n + off }, () => rng.normal() * 1e3);
        for (let i = 0; i < 64 && n > 1; i++) x[off + Math.floor((i / 64) * n)] = SPECIAL[i % SPECIAL.length];
        const y = new Uint16Array(n + off + 2).fill(0xabcd);
        nn.f32ToBf16!(x, off, y, off, n);
        const want = Uint16Array.from(x.subarray(off), f32ToBf16);
        let bad = -1;
        for (let i = 0; i < n && bad < 0; i++) if (y[off + i] !== want[i]) bad = i;
        expect(bad, `n ${n}: first differing value`).toBe(-1);
        expect([...y.subarray(0, off), ...y.subarray(off + n)]).toEqual([
          0xabcd, 0xabcd, 0xabcd, 0xabcd, 0xabcd,
        ]);
      }
    });
});
