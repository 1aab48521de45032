// The Q6_K encoder, reproducing ggml's quantize_row_q6_K_ref (ggml-quants.c) byte for byte: our own
// code, written from reading ggml's algorithm, with every float32 operation ggml does rounded the same
// way (Math.fround after each one, no fused multiply-adds: ggml-base is built without FMA contraction).
// The test compares against bytes produced by llama.cpp's own libggml-base.
//
// Per 256-value super-block: each of the 16 sub-blocks of 16 values gets a scale from make_qx_quants
// (nmax 32, weights x², a search over 19 candidate inverse scales for the best weighted least-squares
// fit); the scale of largest magnitude maps to −128, which sets the fp16 super-block scale d; every
// sub-block scale is stored as an int8 multiple of d; the values are then re-rounded against the
// quantized scale. Layout: io/gguf-blocks (Q6_K_BYTES = 210: ql[128], qh[64], scales[16], d).

import { f16ToF32, f32ToF16 } from './dtypes.js';
import { Q6_K_BYTES, QK_K } from './gguf-blocks.js';

const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);
const MAGIC = 12582912; // 1.5·2^23: adding it in float32 rounds to an integer, ties to even

/** ggml's nearest_int: round a float32 (|x| < 2^22) to the nearest integer, ties to even. */
function nearestInt(x: number): number {
  return f(x + MAGIC) - MAGIC;
}

/**
 * make_qx_quants(n = 16, nmax = 32, rmse_type = 1, no importance weights): writes L[o..o+16) in 0..63
 * and returns the sub-block's float32 scale (0 for an all-zero sub-block).
 */
function makeQxQuants16(x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < 16; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + 16);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < 16; i++) {
    const v = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
    L[lo + i] = l + nmax;
    const w = f(v * v);
    sumlx = f(sumlx + f(f(w * v) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < 16; i++) {
      const v = x[xo + i];
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
      const w = f(v * v);
      sumlx = f(sumlx + f(f(w * v) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < 16; i++) {
        const l = nearestInt(f(iscale * x[xo + i]));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** float32 values (a multiple of 256) → Q6_K super-blocks, as ggml's quantize_row_q6_K_ref. */
export function encodeQ6_K(x: Float32Array): Uint8Array {
  if (x.length % QK_K !== 0)
    throw new RangeError(`Q6_K: ${x.length} values is not a multiple of the block size ${QK_K}`);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * Q6_K_BYTES);
  const view = new DataView(out.buffer);
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(QK_K / 16);
  for (let b = 0; b < nb; b++) {
    const xo = b * QK_K;
    const at = b * Q6_K_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQxQuants16(x, xo + 16 * ib, L, 16 * ib);
      scales[ib] = s;
      if (Math.abs(s) > maxAbsScale) {
        maxAbsScale = Math.abs(s);
        maxScale = s;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all zero, d = +0 (the block is already zeros)
    const iscale = f(-128 / maxScale);
    const dh = f32ToF16(f(1 / iscale));
    view.setUint16(at + 208, dh, true);
    const d16 = f16ToF32(dh);
    for (let ib = 0; ib < 16; ib++) {
      const sc = Math.min(127, nearestInt(f(iscale * scales[ib])));
      view.setInt8(at + 192 + ib, sc);
      const d = f(d16 * sc);
      if (!d) continue; // ggml keeps make_qx_quants' codes for a sub-block whose scale rounds to 0
      for (let i = 0; i < 16; i++) {
        const l = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * ib + i] / d))));
        L[16 * ib + i] = l + 32;
      }
    }
    // Two halves of 128: ql holds low nibbles (values l and l+64 share a byte, as do l+32 and l+96),
    // qh the two high bits of l, l+32, l+64, l+96.
    for (let h = 0; h < 2; h++) {
      const j = 128 * h;
      const ql = at + 64 * h;
      const qh = at + 128 + 32 * h;
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l];
        const q2 = L[j + l + 32];
        const q3 = L[j + l + 64];
        const q4 = L[j + l + 96];
        out[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
        out[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}
