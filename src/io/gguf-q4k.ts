// The Q4_K encoder, reproducing ggml's quantize_row_q4_K_ref (ggml-quants.c) byte for byte: our own
// code, written from reading ggml's algorithm, every float32 operation rounded as ggml rounds it
// (Math.fround after each, no fused multiply-adds: ggml-base is built without FMA contraction). The test
// compares against bytes from llama.cpp's own libggml-base.
//
// Per 256-value super-block: each of the 8 sub-blocks of 32 gets a scale and a min from make_qkx2_quants
// (nmax 15, weights av_x + |x| with av_x the sub-block's RMS, a search over 21 candidate ranges for the
// best weighted least-squares fit of scale·q + min); the largest scale and the largest min set the fp16
// d and dmin; each sub-block's scale and min are stored as 6-bit multiples of them; the values are then
// re-rounded against the quantized pair. Layout: io/gguf-blocks (Q4_K_BYTES = 144).

import { f16ToF32, f32ToF16 } from './dtypes.js';
import { q4kScaleMin, Q4_K_BYTES, QK_K } from './gguf-blocks.js';

const f = Math.fround;
const MAGIC = 12582912; // 1.5·2^23: adding it in float32 rounds to an integer, ties to even

/** ggml's nearest_int: round a float32 (|x| < 2^22) to the nearest integer, ties to even. */
function nearestInt(x: number): number {
  return f(x + MAGIC) - MAGIC;
}

/**
 * make_qkx2_quants(n = 32, nmax = 15, rmin = −1, rdelta = 0.1, nstep = 20, use_mad = false): writes
 * L[lo..lo+32) in 0..15 and returns [scale, −min] (the min as ggml stores it, ≥ 0).
 */
function makeQkx2Quants32(
  x: Float32Array,
  xo: number,
  w: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
): [number, number] {
  const n = 32;
  const nmax = 15;
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  // ggml reuses `min` for the best fit so far: later candidates measure their range (max − min) and
  // codes from it, not from the sub-block's minimum.
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(v - min)))));
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - v);
    bestError = f(bestError + f(w[i] * f(diff * diff)));
  }
  for (let is = 0; is <= 20; is++) {
    iscale = f(f(f(-1 + f(f(0.1) * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(v - min)))));
      Laux[i] = l;
      sumL = f(sumL + f(w[i] * l));
      sumL2 = f(sumL2 + f(f(w[i] * l) * l));
      sumXL = f(sumXL + f(f(w[i] * l) * v));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = f(curError + f(w[i] * f(diff * diff)));
      }
      if (curError < bestError) {
        L.set(Laux.subarray(0, n), lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** float32 values (a multiple of 256) → Q4_K super-blocks, as ggml's quantize_row_q4_K_ref. */
export function encodeQ4_K(x: Float32Array): Uint8Array {
  if (x.length % QK_K !== 0)
    throw new RangeError(`Q4_K: ${x.length} values is not a multiple of the block size ${QK_K}`);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * Q4_K_BYTES);
  const view = new DataView(out.buffer);
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(32);
  const w = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let b = 0; b < nb; b++) {
    const xo = b * QK_K;
    const at = b * Q4_K_BYTES;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const so = xo + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[so + l] * x[so + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) w[l] = f(avX + Math.abs(x[so + l]));
      const [s, m] = makeQkx2Quants32(x, so, w, L, 32 * j, Laux);
      scales[j] = s;
      mins[j] = m;
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const sc = at + 4;
    for (let j = 0; j < 8; j++) {
      // uint8_t ls = nearest_int(...): the int is truncated to a byte before MIN(63, ·)
      const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 255);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 255);
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[sc + j - 4] |= (ls >> 4) << 6;
        out[sc + j] |= (lm >> 4) << 6;
      }
    }
    const dh = f32ToF16(f(maxScale / 63));
    const mh = f32ToF16(f(maxMin / 63));
    view.setUint16(at, dh, true);
    view.setUint16(at + 2, mh, true);
    const d16 = f16ToF32(dh);
    const m16 = f16ToF32(mh);
    for (let j = 0; j < 8; j++) {
      const [s, m] = q4kScaleMin(out, sc, j);
      const d = f(d16 * s);
      if (!d) continue; // ggml keeps make_qkx2_quants' codes for a sub-block whose scale rounds to 0
      const dm = f(m16 * m);
      for (let i = 0; i < 32; i++) {
        const l = nearestInt(f(f(x[xo + 32 * j + i] + dm) / d));
        L[32 * j + i] = Math.max(0, Math.min(15, l));
      }
    }
    // Four chunks of 64 values: low nibbles are the first 32, high nibbles the next 32.
    for (let c = 0; c < 4; c++)
      for (let l = 0; l < 32; l++) out[at + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4);
  }
  return out;
}
