// Float matrices quantized straight into QWeight (qweight.ts), a row at a time, no float copy kept:
//   W8: symmetric per 32, scale d = amax/127 rounded to fp16, code = round(w/d) + 128, zero 128 (Q8_0's
//       arithmetic); what --head-dtype int8 makes of the LM head / embedding.
//   W4 and W2: SPEC §9's asymmetric min–max group quantizer per 32 (range always includes 0), scale
//       (max − min)/maxq in fp16 (maxq 15 or 3), zero = round(−min/scale), code = clamp(round(w/scale) + zero,
//       0, maxq).
// And the inverse for one row (the int8 embedding's lookup).

import { bf16ToF32, f16ToF32, f32ToF16 } from '../tensor/index.js';
import {
  allocQWeight,
  blockBytes,
  codeSlot,
  paramAt,
  QBLOCK,
  QTILE,
  type QBits,
  type QWeight,
} from './qweight.js';

/** Row r of an [out, K] matrix given as f32 values or bf16 bits, into `row`. */
function readRow(
  src: Float32Array | Uint16Array,
  bf16: boolean,
  r: number,
  K: number,
  row: Float32Array,
): void {
  if (!bf16) row.set((src as Float32Array).subarray(r * K, (r + 1) * K));
  else for (let i = 0; i < K; i++) row[i] = bf16ToF32(src[r * K + i]);
}

/**
 * `src` [out, K] (f32 values, or bf16 bits when `bf16`) quantized to `bits` per 32 columns. Non-finite
 * values are rejected by the caller's checks upstream; here they would give a NaN scale.
 */
export function quantizeToQWeight(
  src: Float32Array | Uint16Array,
  out: number,
  K: number,
  bits: QBits,
  bf16 = false,
  name = 'weight',
): QWeight {
  const w = allocQWeight(bits, out, K, null, name);
  const row = new Float32Array(K);
  const BB = blockBytes(bits);
  // byte offset and code shift of (tile row, block column) inside a (tile, block) chunk
  const slotOff = new Int32Array(QTILE * QBLOCK);
  const slotShift = new Uint8Array(QTILE * QBLOCK);
  for (let i = 0; i < QTILE * QBLOCK; i++) {
    const { offset, shift } = codeSlot(bits, i >> 5, i & 31);
    slotOff[i] = offset;
    slotShift[i] = shift;
  }
  const maxq = (1 << bits) - 1;
  const minq = bits === 8 ? 1 : 0;
  for (let r = 0; r < out; r++) {
    readRow(src, bf16, r, K, row);
    const t = Math.floor(r / QTILE);
    const rr = r - t * QTILE;
    for (let b = 0; b < w.blocks; b++) {
      const base = (t * w.blocks + b) * BB;
      let lo = 0;
      let hi = 0;
      for (let i = b * QBLOCK; i < (b + 1) * QBLOCK; i++) {
        const v = row[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const p = paramAt(w, r, b);
      let scale: number;
      let zero: number;
      if (bits === 8) {
        w.scales[p] = f32ToF16(Math.max(hi, -lo) / 127);
        scale = f16ToF32(w.scales[p]);
        zero = 128;
      } else {
        w.scales[p] = f32ToF16((hi - lo) / maxq);
        scale = f16ToF32(w.scales[p]);
        zero = scale > 0 ? Math.min(maxq, Math.max(0, Math.round(-lo / scale))) : 0;
      }
      w.zeros[p] = zero;
      const inv = scale > 0 ? 1 / scale : 0;
      const at = rr * QBLOCK;
      for (let i = 0; i < QBLOCK; i++) {
        let code = Math.round(row[b * QBLOCK + i] * inv) + zero;
        code = code > maxq ? maxq : code < minq ? minq : code;
        w.codes[base + slotOff[at + i]] |= code << slotShift[at + i];
      }
    }
  }
  return w;
}

/** Row r of a QWeight dequantized into `dst` (original column order), f32. */
export function dequantizeRow(w: QWeight, r: number, dst: Float32Array, dstOff = 0): void {
  const t = Math.floor(r / QTILE);
  const rr = r - t * QTILE;
  const BB = blockBytes(w.bits);
  const mask = (1 << w.bits) - 1;
  // the row's slots are the same in every block: looked up once, not once per element
  const slots = Array.from({ length: QBLOCK }, (_, i) => codeSlot(w.bits, rr, i));
  for (let b = 0; b < w.blocks; b++) {
    const base = (t * w.blocks + b) * BB;
    const p = paramAt(w, r, b);
    const s = f16ToF32(w.scales[p]);
    const z = w.zeros[p];
    for (let i = 0; i < QBLOCK; i++) {
      const { offset, shift } = slots[i];
      const code = (w.codes[base + offset] >> shift) & mask;
      const j = b * QBLOCK + i;
      dst[dstOff + (w.perm ? w.perm[j] : j)] = s * (code - z);
    }
  }
}
