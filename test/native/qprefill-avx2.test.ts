/**
 * The AVX2 prefill path of the quantized matmul (native/src/qprefill-avx2.c: W4 and W2 with M >= 8 token rows
 * when the ISA is AVX2, or AVX-512 without VNNI; selected here with setIsa('avx2')): bit-identical to the
 * scalar C tile kernel (exact integer block sums, the same fma per block in block order) and within f32
 * rounding of the TypeScript twin, on shapes that hit every remainder path: token rows not a multiple of
 * the 3-token register block (tails 1 and 2), a single block (K 32) and odd block counts, rows not a
 * multiple of 16, several panels per weight with a short last one, fused weights, act-order perm, padded
 * leading dims, the ends of the int16 ranges the kernel relies on (c − z = −16 and 15 against activation
 * codes ±127, i.e. operands 255 and 1), activations that round at exact halves and a NaN (the AVX2
 * activation quantizer against mc_qquantize), and a zero above 16 (left to the tile path). The W8 cases
 * run the AVX2 tile kernels (W8 prefill stays there) through the same checks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { nativeQuantKernels, refQuantKernels as ref } from '../../src/backends/quant.js';
import { type Case, run } from './qprefill-helpers.js';

const native = nativeQuantKernels();
const addon = loadNativeKernels();
const isa = addon?.features().isa;
const avx2 = !!addon && (isa === 'avx2' || isa === 'avx512');
const threads0 = addon?.getThreads() ?? 1;

afterAll(() => {
  if (addon && isa) {
    addon.setIsa(isa);
    addon.setThreads(threads0);
  }
});

const cases: Case[] = [];
for (const bits of [2, 4, 8] as const) {
  // 5-7 rows: the tile path; from 8 the panel, with register-block tails 2, 0, 1, 2, 0, 1
  for (const M of [5, 6, 7, 8, 9, 10, 11, 12, 13])
    cases.push({ bits, M, K: 64, ns: [16, 33, 5], perm: false });
  cases.push({ bits, M: 8, K: 32, ns: [7], perm: false }); // one block, one short tile
  cases.push({ bits, M: 9, K: 96, ns: [17], perm: true });
  cases.push({ bits, M: 23, K: 160, ns: [48, 30, 100], perm: true });
  cases.push({ bits, M: 10, K: 320, ns: [1000], perm: false }); // several panels, short last one
  cases.push({ bits, M: 8, K: 2304, ns: [170, 64], perm: false }); // one-tile panels at K 2304
  for (const fill of ['max', 'min'] as const) {
    cases.push({ bits, M: 10, K: 64, ns: [40], perm: false, fill });
    cases.push({ bits, M: 8, K: 2304, ns: [20], perm: false, fill });
  }
  cases.push({ bits, M: 9, K: 96, ns: [40], perm: true, fill: 'ties' });
}
cases.push({ bits: 4, M: 8, K: 64, ns: [40], perm: false, zmax: 40 }); // zeros past 16: tile path

describe.skipIf(!avx2)('native quantized prefill (AVX2 panel kernel)', () => {
  for (const t of [1, 2]) {
    it(`${t}t: bit-identical to the scalar tile kernel on every remainder path`, () => {
      addon!.setThreads(t);
      for (const [i, c] of cases.entries()) {
        addon!.setIsa('scalar');
        const want = run(native!, c, 50 + i);
        expect(addon!.setIsa('avx2')).toBe(true);
        const got = run(native!, c, 50 + i);
        // the same bits everywhere; the NaN padding stays NaN (untouched)
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), JSON.stringify(c)).toBe(true);
        expect(got.some((v) => !Number.isNaN(v))).toBe(true);
      }
    });
  }

  it('agrees with the TypeScript twin to f32 rounding', () => {
    addon!.setIsa('avx2');
    for (const [i, c] of cases.filter((c) => c.K <= 320 && c.fill !== 'ties').entries()) {
      const got = run(native!, c, 90 + i);
      const want = run(ref, c, 90 + i);
      const B = c.K / 32;
      let scale = 0;
      for (const v of want) if (!Number.isNaN(v)) scale = Math.max(scale, Math.abs(v));
      for (let j = 0; j < got.length; j++) {
        if (Number.isNaN(want[j])) expect(got[j], `padding at ${j}`).toBeNaN();
        else
          expect(Math.abs(got[j] - want[j]), `${JSON.stringify(c)} at ${j}`).toBeLessThanOrEqual(
            2e-6 * B * scale,
          );
      }
    }
  });
});
