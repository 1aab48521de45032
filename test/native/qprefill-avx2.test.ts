/**
 * The AVX2 prefill path of the quantized matmul (native/src/qprefill-avx2.c: W4 with M >= 8 token rows
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
import { f32ToF16 } from '../../src/tensor/dtype.js';

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

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

type Fill = 'random' | 'max' | 'min' | 'ties';

// exact halves and the floats just below them at scale 1 (amax 127): the quantizer's rounding
const TIES = [127, -126.5, 0.5, -0.5, 1.5, -2.5, Math.fround(0.49999997), -Math.fround(0.49999997), 126.5];

interface Case {
  bits: 4 | 8;
  M: number;
  K: number;
  ns: number[];
  perm: boolean;
  fill?: Fill;
  zmax?: number;
}

/** Codes, scales and zeros of n rows in the qweight.ts layout; 'max': codes 15/255, zero 0; 'min': codes 0, largest zero. */
function weight(bits: 4 | 8, n: number, K: number, seed: number, fill: Fill, zmax: number) {
  const r = rng(seed);
  const tiles = Math.ceil(n / 16);
  const B = K / 32;
  const codes = new Uint8Array(tiles * B * (bits === 8 ? 512 : 256));
  const scales = new Uint16Array(tiles * B * 16);
  const zeros = new Uint8Array(tiles * B * 16);
  for (let i = 0; i < codes.length; i++)
    codes[i] = fill === 'random' ? Math.floor(r() * 256) : fill === 'max' ? 255 : 0;
  for (let i = 0; i < scales.length; i++) {
    scales[i] = f32ToF16(0.001 + 0.05 * r());
    zeros[i] = fill === 'random' ? Math.floor(r() * (zmax + 1)) : fill === 'max' ? 0 : zmax;
  }
  return { codes, scales, zeros };
}

function run(k: NonNullable<typeof native>, c: Case, seed: number): Float32Array {
  const ldx = c.K + 3;
  const r = rng(seed);
  const x = new Float32Array(2 + c.M * ldx);
  for (let i = 0; i < x.length; i++) {
    // 'max'/'min': ±amax in every block, activation codes ±127 (uint8 operands 255 and 1 for W4)
    if (c.fill === 'max' || c.fill === 'min') x[i] = i % 2 ? 1 : -1;
    else if (c.fill === 'ties') x[i] = TIES[i % TIES.length];
    else x[i] = (r() * 2 - 1) * (i % 5 === 0 ? 3 : 1);
  }
  if (!c.fill) x.fill(0, 2, 2 + 32); // an all-zero block (scale 0)
  if (c.fill === 'ties') x[2 + 40] = NaN; // skipped by the max, code 127 (C only: the twin's Math.max is not)
  let perm: Int32Array | null = null;
  if (c.perm) {
    perm = Int32Array.from({ length: c.K }, (_, i) => i);
    for (let i = c.K - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
  }
  const zmax = c.zmax ?? (c.bits === 8 ? 255 : 16);
  const fill = c.fill === 'ties' ? 'random' : (c.fill ?? 'random');
  const ws = c.ns.map((n, i) => weight(c.bits, n, c.K, seed * 7 + i, fill, zmax));
  const ldy = c.ns.reduce((a, b) => a + b, 0) + 5;
  const y = new Float32Array(3 + c.M * ldy).fill(NaN);
  k.qmatmul(
    c.M,
    c.K,
    c.bits,
    x,
    2,
    ldx,
    perm,
    ws.map((w) => w.codes),
    ws.map((w) => w.scales),
    ws.map((w) => w.zeros),
    c.ns,
    y,
    3,
    ldy,
  );
  return y;
}

const cases: Case[] = [];
for (const bits of [4, 8] as const) {
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
