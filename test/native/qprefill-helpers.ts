// Shared by the quantized prefill kernels' tests (qprefill.test.ts: AVX-512 VNNI, qprefill-avx2.test.ts):
// weights in the qweight.ts layout with random or extreme codes and zeros, activations with rounding ties,
// and one qmatmul call over padded x/y windows; its seeded generator (rng) also serves the other quantized
// matmul tests (qmatmul.test.ts, the wasm build's wasm-quant.test.ts).
import type { QuantKernels } from '../../src/backends/quant.js';
import { f32ToF16 } from '../../src/tensor/dtype.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export type Fill = 'random' | 'max' | 'min' | 'ties';

// exact halves and the floats just below them at scale 1 (amax 127): the quantizer's rounding
const TIES = [127, -126.5, 0.5, -0.5, 1.5, -2.5, Math.fround(0.49999997), -Math.fround(0.49999997), 126.5];

export interface W {
  codes: Uint8Array;
  scales: Uint16Array;
  zeros: Uint8Array;
}

/**
 * A weight of n rows: random codes and zeros (W2 zeros 0..4, W4 0..16), or every code/zero at one end; `zero`
 * fixes every zero (W8 128: the plain-seed panels), `stray` then sets one zero in the middle to 127.
 */
export function weight(
  bits: 2 | 4 | 8,
  n: number,
  K: number,
  seed: number,
  fill: Fill,
  zmax = bits === 8 ? 255 : bits === 4 ? 16 : 4,
  zero?: number,
  stray = false,
): W {
  const r = rng(seed);
  const tiles = Math.ceil(n / 16);
  const B = K / 32;
  const codes = new Uint8Array(tiles * B * 64 * bits);
  const scales = new Uint16Array(tiles * B * 16);
  const zeros = new Uint8Array(tiles * B * 16);
  // 'max': codes 3/15/255 with zero 0 (largest positive c − z); 'min': codes 0 with the largest zero
  for (let i = 0; i < codes.length; i++)
    codes[i] = fill === 'random' ? Math.floor(r() * 256) : fill === 'max' ? 255 : 0;
  for (let i = 0; i < scales.length; i++) {
    scales[i] = f32ToF16(0.001 + 0.05 * r());
    zeros[i] = fill === 'random' ? Math.floor(r() * (zmax + 1)) : fill === 'max' ? 0 : zmax;
    if (zero !== undefined) zeros[i] = zero;
  }
  if (stray) zeros[zeros.length >> 1] = 127;
  return { codes, scales, zeros };
}

export interface Case {
  bits: 2 | 4 | 8;
  M: number;
  K: number;
  ns: number[];
  perm: boolean;
  fill?: Fill;
  zmax?: number;
  /** Every zero of the first weight (the others keep theirs); `stray`: one of them 127. */
  zero?: number;
  stray?: boolean;
}

export function run(k: QuantKernels, c: Case, seed: number): Float32Array {
  const ldx = c.K + 3;
  const r = rng(seed);
  const x = new Float32Array(2 + c.M * ldx);
  for (let i = 0; i < x.length; i++) {
    // 'max'/'min': activations at ±amax in every block (codes ±127); 'ties': exact halves and the floats
    // just below them at scale 1 (amax 127), and a NaN (skipped by the max, code 127); random otherwise
    if (c.fill === 'max' || c.fill === 'min') x[i] = i % 2 ? 1 : -1;
    else if (c.fill === 'ties') x[i] = TIES[i % TIES.length];
    else x[i] = (r() * 2 - 1) * (i % 5 === 0 ? 3 : 1);
  }
  if (c.fill === 'ties') x[2 + 40] = NaN;
  if (!c.fill || c.fill === 'random') x.fill(0, 2, 2 + Math.min(32, c.K));
  let perm: Int32Array | null = null;
  if (c.perm) {
    perm = Int32Array.from({ length: c.K }, (_, i) => i);
    for (let i = c.K - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
  }
  const fill = c.fill === 'ties' ? 'random' : (c.fill ?? 'random');
  const ws = c.ns.map((n, i) =>
    weight(c.bits, n, c.K, seed * 7 + i, fill, c.zmax, i === 0 ? c.zero : undefined, i === 0 && c.stray),
  );
  const total = c.ns.reduce((a, b) => a + b, 0);
  const ldy = total + 5;
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
