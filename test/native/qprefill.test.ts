/**
 * The AVX-512 VNNI prefill path of the quantized matmul (native/src/qprefill*.c, taken from 32 token
 * rows): bit-identical to the scalar C tile kernel (same exact integer block sums, same fma per block in
 * block order), and within f32 rounding of the TypeScript twin, on shapes that hit every remainder path:
 * token rows not a multiple of the 6-token register block (tails 0..5 from 32 rows up; 5, 17 and 31
 * rows go to the tile kernels), tile counts not a multiple of the 2-tile block, rows not a multiple of
 * 16 (masked stores), several panels per weight, fused weights with odd tile counts, act-order perm,
 * padded leading dims, codes and activations at the ends of their ranges
 * (W4 zero 16 gives c − z = −16, W2 zero 4 −4; W8 code 255, zero 0), W2 panels unpacked from bit pairs, activations that round at exact halves and a
 * NaN (the vectorized activation quantizer against mc_qquantize), a W4 zero above 16 (tile path), and W8
 * weights whose zeros are all 128 (plain-seed panels), alone, beside other zeros and with one stray zero.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { nativeQuantKernels, refQuantKernels as ref } from '../../src/backends/quant.js';
import { type Case, run } from './qprefill-helpers.js';

const native = nativeQuantKernels();
const addon = loadNativeKernels();
const vnni = !!addon && addon.features().vnni && addon.features().isa === 'avx512';
const best = addon?.features().isa;
const threads0 = addon?.getThreads() ?? 1;

afterAll(() => {
  if (addon && best) {
    addon.setIsa(best);
    addon.setThreads(threads0);
  }
});

const cases: Case[] = [];
for (const bits of [2, 4, 8] as const) {
  // 32 rows and up take the panel path (qprefill.c's min_rows on AVX-512 VNNI): tails 2, 3, 4, 5, 0, 1 of the 6-token block
  for (const M of [32, 33, 34, 35, 36, 37, 47]) cases.push({ bits, M, K: 64, ns: [16, 33, 5], perm: false });
  for (const M of [5, 17, 31]) cases.push({ bits, M, K: 64, ns: [16, 33, 5], perm: false }); // tile path
  cases.push({ bits, M: 39, K: 96, ns: [17], perm: true });
  cases.push({ bits, M: 53, K: 160, ns: [48, 30, 100], perm: true });
  cases.push({ bits, M: 40, K: 320, ns: [1000], perm: false }); // several panels per weight
  cases.push({ bits, M: 32, K: 2304, ns: [170, 64], perm: false }); // a panel of 2 tiles at K 2304
  cases.push({ bits, M: 37, K: 64, ns: [40], perm: false, fill: 'max' });
  cases.push({ bits, M: 37, K: 64, ns: [40], perm: false, fill: 'min' });
  cases.push({ bits, M: 39, K: 96, ns: [40], perm: true, fill: 'ties' });
}
cases.push({ bits: 4, M: 38, K: 64, ns: [40], perm: false, zmax: 40 }); // zeros past 16: tile path
// W8 with every zero 128 (our W8, GGUF Q8_0): plain-seed panels, codes c − 128 at both ends, beside a
// weight with other zeros in the same call, and one panel of many turned by a single zero of 127
cases.push({ bits: 8, M: 43, K: 320, ns: [1000, 40], perm: false, zero: 128 });
cases.push({ bits: 8, M: 37, K: 64, ns: [40], perm: false, fill: 'max', zero: 128 });
cases.push({ bits: 8, M: 37, K: 64, ns: [40], perm: false, fill: 'min', zero: 128 });
cases.push({ bits: 8, M: 47, K: 96, ns: [40, 17], perm: true, zero: 128 });
cases.push({ bits: 8, M: 40, K: 320, ns: [1000], perm: false, zero: 128, stray: true });

describe.skipIf(!vnni)('native quantized prefill (AVX-512 VNNI)', () => {
  for (const t of [1, 2]) {
    it(`${t}t: bit-identical to the scalar tile kernel on every remainder path`, () => {
      addon!.setThreads(t);
      for (const [i, c] of cases.entries()) {
        addon!.setIsa('scalar');
        const want = run(native!, c, 50 + i);
        addon!.setIsa('avx512');
        const got = run(native!, c, 50 + i);
        // the same bits everywhere; NaN padding stays NaN (untouched)
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), JSON.stringify(c)).toBe(true);
        expect(got.some((v) => !Number.isNaN(v))).toBe(true);
      }
    });
  }

  // the NaN case is C-only: the twin's Math.max does not skip a NaN as the C max does
  it('agrees with the TypeScript twin to f32 rounding', () => {
    addon!.setIsa('avx512');
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
