/**
 * The TypeScript twin of the quantized matmul (native/src/qmatmul*.c): plain loops over the layout of
 * src/quant/qweight.ts, f32 rounding by Math.fround where the C code rounds to f32. The C kernels
 * accumulate the block terms with fused multiply-adds, so the two agree to f32 rounding of the block
 * sums (the integer parts are exact).
 */
import { f16ToF32 } from '../tensor/dtype.js';
import type { QuantKernels } from './kernels-quant.js';

const fr = Math.fround;

/** Round half away from zero (C's roundf). */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

function qquantize(
  M: number,
  K: number,
  x: Float32Array,
  xOff: number,
  ldx: number,
  perm: Int32Array | null,
  xq: Int8Array,
  xd: Float32Array,
  xs: Int32Array,
): void {
  const B = K / 32;
  for (let m = 0; m < M; m++) {
    const row = xOff + m * ldx;
    for (let b = 0; b < B; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) {
        const j = b * 32 + i;
        amax = Math.max(amax, Math.abs(x[row + (perm ? perm[j] : j)]));
      }
      const d = fr(amax / 127);
      const id = d !== 0 ? fr(1 / d) : 0;
      let sum = 0;
      for (let i = 0; i < 32; i++) {
        const j = b * 32 + i;
        const q = roundAway(fr(x[row + (perm ? perm[j] : j)] * id));
        xq[m * K + j] = q;
        sum += q;
      }
      xd[m * B + b] = d;
      xs[m * B + b] = sum;
    }
  }
}

/** Code of row r (< 16) at block-local column kk inside the (tile, block) chunk starting at `base`. */
function code(codes: Uint8Array, bits: number, base: number, r: number, kk: number): number {
  if (bits === 8) return codes[base + (kk >> 2) * 64 + r * 4 + (kk & 3)];
  if (bits === 2) return (codes[base + ((kk >> 2) & 1) * 64 + r * 4 + (kk & 3)] >> (2 * (kk >> 3))) & 3;
  const k = kk & 15;
  const byte = codes[base + (k >> 2) * 64 + r * 4 + (k & 3)];
  return kk >= 16 ? byte >> 4 : byte & 15;
}

/** The twin reads every zero; a weight marked symmetric whose zeros (of its real rows) are not all
 * 2^(bits−1) is a caller's bug, which this reports instead of computing around it. */
function checkSymmetric(bits: number, B: number, zeros: Uint8Array[], ns: number[], sym: number): void {
  for (let w = 0; w < ns.length; w++) {
    if (!((sym >> w) & 1)) continue;
    for (let o = 0; o < ns[w]; o++)
      for (let b = 0; b < B; b++) {
        const z = zeros[w][((o >> 4) * B + b) * 16 + (o & 15)];
        if (z !== 1 << (bits - 1))
          throw new RangeError(
            `qmatmul: weight ${w} is marked symmetric but row ${o} block ${b} has zero ${z}`,
          );
      }
  }
}

function qmatmul(
  M: number,
  K: number,
  bits: number,
  x: Float32Array,
  xOff: number,
  ldx: number,
  perm: Int32Array | null,
  codes: Uint8Array[],
  scales: Uint16Array[],
  zeros: Uint8Array[],
  ns: number[],
  y: Float32Array,
  yOff: number,
  ldy: number,
  sym = 0,
): void {
  const B = K / 32;
  checkSymmetric(bits, B, zeros, ns, sym);
  const xq = new Int8Array(M * K);
  const xd = new Float32Array(M * B);
  const xs = new Int32Array(M * B);
  qquantize(M, K, x, xOff, ldx, perm, xq, xd, xs);
  const BB = 64 * bits;
  let col = 0;
  for (let w = 0; w < ns.length; w++) {
    const N = ns[w];
    for (let o = 0; o < N; o++) {
      const t = o >> 4;
      const r = o & 15;
      for (let m = 0; m < M; m++) {
        let acc = 0;
        for (let b = 0; b < B; b++) {
          const base = (t * B + b) * BB;
          let dot = 0;
          for (let kk = 0; kk < 32; kk++) dot += code(codes[w], bits, base, r, kk) * xq[m * K + b * 32 + kk];
          const p = (t * B + b) * 16 + r;
          const isum = dot - zeros[w][p] * xs[m * B + b];
          acc = fr(acc + fr(fr(f16ToF32(scales[w][p]) * xd[m * B + b]) * isum));
        }
        y[yOff + m * ldy + col + o] = acc;
      }
    }
    col += N;
  }
}

export const refQuantKernels: QuantKernels = { qquantize, qmatmul };
