// ggml's quantized block formats, encoded and decoded in TypeScript (our own code, checked against
// ggml-quants.c's reference functions: quantize_row_q8_0_ref / q4_0_ref, dequantize_row_q8_0 / q4_0 /
// q4_K / q6_K). The encoders reproduce ggml's float32 arithmetic step by step (Math.fround after every
// operation ggml does in float) so that our Q8_0/Q4_0 files are byte-identical to llama.cpp's.
//
// Layouts (little-endian, one block after another along a row; rows are ne[0] = the input dimension):
//   Q8_0 (34 B / 32): fp16 d, int8 q[32]                          x = d·q
//   Q4_0 (18 B / 32): fp16 d, u8 qs[16] (low nibbles x0..15, high nibbles x16..31)   x = d·(q − 8)
//   Q4_K (144 B / 256): fp16 d, fp16 dmin, u8 scales[12] (eight 6-bit scales and mins), u8 qs[128]
//        eight sub-blocks of 32: x = d·sc_j·q − dmin·m_j
//   Q6_K (210 B / 256): u8 ql[128], u8 qh[64], int8 scales[16], fp16 d   x = d·sc_j·(q − 32), 16 per scale

import { f16ToF32, f32ToF16 } from './dtypes.js';

export const QK = 32;
export const QK_K = 256;
export const Q8_0_BYTES = 34;
export const Q4_0_BYTES = 18;
export const Q4_K_BYTES = 144;
export const Q6_K_BYTES = 210;

const f = Math.fround;

function checkLength(what: string, n: number, block: number): void {
  if (n % block !== 0)
    throw new RangeError(`${what}: ${n} values is not a multiple of the block size ${block}`);
}

/** ggml's roundf: halves away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** float32 values → Q8_0 blocks, as quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d). */
export function encodeQ8_0(x: Float32Array): Uint8Array {
  checkLength('Q8_0', x.length, QK);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * Q8_0_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const o = b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[o + j]));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0; // ggml divides by the float32 d, not its fp16 rounding
    const at = b * Q8_0_BYTES;
    view.setUint16(at, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) view.setInt8(at + 2 + j, roundAway(f(x[o + j] * id)));
  }
  return out;
}

/**
 * float32 values → Q4_0 blocks, as quantize_row_q4_0_ref: the value of largest magnitude (sign kept)
 * maps to −8, d = max/−8, q = min(15, trunc(x/d + 8.5)).
 */
export function encodeQ4_0(x: Float32Array): Uint8Array {
  checkLength('Q4_0', x.length, QK);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * Q4_0_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    const o = b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[o + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    const at = b * Q4_0_BYTES;
    view.setUint16(at, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      // (int8_t)(x + 8.5f) truncates toward zero; x·id ≥ −8 up to rounding, so the sum is ≥ 0.
      const q0 = Math.min(15, Math.trunc(f(f(x[o + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[o + QK / 2 + j] * id) + 8.5)));
      out[at + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Q8_0 blocks → float32 (`n` values). */
export function decodeQ8_0(
  src: Uint8Array,
  n: number,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  checkLength('Q8_0', n, QK);
  checkBytes('Q8_0', src, (n / QK) * Q8_0_BYTES);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const at = b * Q8_0_BYTES;
    const d = f16ToF32(view.getUint16(at, true));
    for (let j = 0; j < QK; j++) out[b * QK + j] = view.getInt8(at + 2 + j) * d;
  }
  return out;
}

/** Q4_0 blocks → float32 (`n` values). */
export function decodeQ4_0(
  src: Uint8Array,
  n: number,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  checkLength('Q4_0', n, QK);
  checkBytes('Q4_0', src, (n / QK) * Q4_0_BYTES);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const at = b * Q4_0_BYTES;
    const d = f16ToF32(view.getUint16(at, true));
    for (let j = 0; j < QK / 2; j++) {
      const q = src[at + 2 + j];
      out[b * QK + j] = ((q & 15) - 8) * d;
      out[b * QK + QK / 2 + j] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

/** The j-th (0..7) 6-bit scale and min of a Q4_K block's 12 scale bytes at `s` (ggml's get_scale_min_k4). */
export function q4kScaleMin(bytes: Uint8Array, s: number, j: number): [scale: number, min: number] {
  if (j < 4) return [bytes[s + j] & 63, bytes[s + j + 4] & 63];
  return [
    (bytes[s + j + 4] & 0xf) | ((bytes[s + j - 4] >> 6) << 4),
    (bytes[s + j + 4] >> 4) | ((bytes[s + j] >> 6) << 4),
  ];
}

/** Q4_K super-blocks → float32 (`n` values, a multiple of 256). */
export function decodeQ4_K(
  src: Uint8Array,
  n: number,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  checkLength('Q4_K', n, QK_K);
  checkBytes('Q4_K', src, (n / QK_K) * Q4_K_BYTES);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK_K; b++) {
    const at = b * Q4_K_BYTES;
    const d = f16ToF32(view.getUint16(at, true));
    const dmin = f16ToF32(view.getUint16(at + 2, true));
    const qs = at + 16;
    let y = b * QK_K;
    // Four chunks of 64 values share 32 bytes: low nibbles are sub-block 2c, high nibbles 2c + 1.
    for (let c = 0; c < 4; c++) {
      const [sc0, m0] = q4kScaleMin(src, at + 4, 2 * c);
      const [sc1, m1] = q4kScaleMin(src, at + 4, 2 * c + 1);
      const d0 = f(d * sc0);
      const mm0 = f(dmin * m0);
      const d1 = f(d * sc1);
      const mm1 = f(dmin * m1);
      for (let l = 0; l < 32; l++) out[y + l] = f(d0 * (src[qs + 32 * c + l] & 15)) - mm0;
      for (let l = 0; l < 32; l++) out[y + 32 + l] = f(d1 * (src[qs + 32 * c + l] >> 4)) - mm1;
      y += 64;
    }
  }
  return out;
}

/** Q6_K super-blocks → float32 (`n` values, a multiple of 256). */
export function decodeQ6_K(
  src: Uint8Array,
  n: number,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  checkLength('Q6_K', n, QK_K);
  checkBytes('Q6_K', src, (n / QK_K) * Q6_K_BYTES);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK_K; b++) {
    const at = b * Q6_K_BYTES;
    const d = f16ToF32(view.getUint16(at + 208, true));
    // Two halves of 128 values; each takes 64 ql bytes, 32 qh bytes and 8 scales.
    for (let h = 0; h < 2; h++) {
      const ql = at + 64 * h;
      const qh = at + 128 + 32 * h;
      const sc = at + 192 + 8 * h;
      const y = b * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const hb = src[qh + l];
        const q1 = ((src[ql + l] & 15) | ((hb & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 15) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        out[y + l] = f(d * view.getInt8(sc + is)) * q1;
        out[y + l + 32] = f(d * view.getInt8(sc + is + 2)) * q2;
        out[y + l + 64] = f(d * view.getInt8(sc + is + 4)) * q3;
        out[y + l + 96] = f(d * view.getInt8(sc + is + 6)) * q4;
      }
    }
  }
  return out;
}

function checkBytes(what: string, src: Uint8Array, want: number): void {
  if (src.byteLength !== want)
    throw new RangeError(
      `${what}: expected ${want} bytes of blocks, got ${src.byteLength} (truncated tensor?)`,
    );
}

/** Quantized ggml types this project can decode, by name. */
export const DECODABLE_GGML_TYPES = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;
export type DecodableGgmlType = (typeof DECODABLE_GGML_TYPES)[number];

/** Decode `n` values of a quantized ggml type; undefined when the type has no decoder here. */
export function decodeGgmlBlocks(
  typeName: string,
  src: Uint8Array,
  n: number,
  out?: Float32Array,
): Float32Array | undefined {
  switch (typeName) {
    case 'Q8_0':
      return decodeQ8_0(src, n, out);
    case 'Q4_0':
      return decodeQ4_0(src, n, out);
    case 'Q4_K':
      return decodeQ4_K(src, n, out);
    case 'Q6_K':
      return decodeQ6_K(src, n, out);
    default:
      return undefined;
  }
}
