// Repacking stored quantized matrices into QWeight (qweight.ts) without dequantizing: AutoGPTQ layers
// (gptq and gptq_v2 checkpoint formats, 2/4/8 bits, any group size that is a multiple of 32, act-order
// g_idx, static groups) and GGUF Q4_0 / Q8_0 rows. Each reads its source once, sequentially.

import { QuantFormatError, QuantShapeError } from './errors.js';
import {
  actOrderPerm,
  allocQWeight,
  blockBytes,
  QBLOCK,
  QTILE,
  type QBits,
  type QWeight,
} from './qweight.js';

/** The four AutoGPTQ tensors of one layer, as stored (see autogptq.ts for the packing). */
export interface GptqTensors {
  /** [in·bits/32, out] */
  readonly qweight: Int32Array;
  /** [groups, out·bits/32] */
  readonly qzeros: Int32Array;
  /** [groups, out] fp16 bits */
  readonly scales: Uint16Array;
  /** [in] */
  readonly gIdx: Int32Array;
  readonly out: number;
  readonly in: number;
  readonly groups: number;
}

/**
 * A GPTQ layer in memory. `zeroOffset` is what a reader adds to each stored zero: 1 for the `gptq`
 * checkpoint format (stored zero − 1), 0 for `gptq_v2`. `name` (the module path) appears in errors.
 */
export function repackGptq(t: GptqTensors, bits: number, zeroOffset: 0 | 1, name: string): QWeight {
  if (bits !== 2 && bits !== 4 && bits !== 8) {
    throw new QuantFormatError(`${name}: ${bits}-bit GPTQ layers are not supported (2, 4 and 8 are)`);
  }
  const { out, in: K, groups } = t;
  const per = 32 / bits;
  const mask = (1 << bits) - 1;
  if (K % QBLOCK !== 0) {
    throw new QuantFormatError(
      `${name}: in = ${K} is not a multiple of 32, which the int4/int8 kernels need`,
    );
  }
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new QuantFormatError(`${name}: ${what}`);
  };
  expect(
    t.qweight.length === (K / per) * out,
    `qweight has ${t.qweight.length} words, expected ${K / per} × ${out}`,
  );
  expect(
    out % per === 0 && t.qzeros.length === groups * (out / per),
    `qzeros has ${t.qzeros.length} words, expected ${groups} × ${out / per}`,
  );
  expect(
    t.scales.length === groups * out,
    `scales has ${t.scales.length} entries, expected ${groups} × ${out}`,
  );
  expect(t.gIdx.length === K, `g_idx has ${t.gIdx.length} entries, expected ${K}`);
  for (let c = 0; c < K; c++)
    expect(t.gIdx[c] >= 0 && t.gIdx[c] < groups, `g_idx[${c}] = ${t.gIdx[c]} is not one of ${groups} groups`);

  const held: QBits = bits === 8 ? 8 : 4;
  const perm = actOrderPerm(t.gIdx, name);
  const w = allocQWeight(held, out, K, perm, name);
  const BB = blockBytes(held);
  const rowStride = w.blocks * BB; // bytes between tiles

  // Where input column c lands inside a tile: byte offset (block, k position) and nibble shift.
  const colByte = new Int32Array(K);
  const colShift = new Uint8Array(K);
  const blockGroup = new Int32Array(w.blocks);
  for (let j = 0; j < K; j++) {
    const c = perm ? perm[j] : j;
    const b = j >> 5;
    const kk = j & 31;
    if (held === 8) colByte[c] = b * BB + (kk >> 2) * 64 + (kk & 3);
    else {
      const k = kk & 15;
      colByte[c] = b * BB + (k >> 2) * 64 + (k & 3);
      colShift[c] = kk >= 16 ? 4 : 0;
    }
    if (kk === 0) blockGroup[b] = t.gIdx[c];
  }

  const codes = w.codes;
  for (let rho = 0; rho < K / per; rho++) {
    const row = rho * out;
    for (let o = 0; o < out; o++) {
      const word = t.qweight[row + o];
      const base = (o >> 4) * rowStride + (o & 15) * 4;
      for (let i = 0; i < per; i++) {
        const c = rho * per + i;
        const v = (word >>> (bits * i)) & mask;
        codes[base + colByte[c]] |= v << colShift[c];
      }
    }
  }

  const zmax = held === 8 ? 255 : 16;
  for (let b = 0; b < w.blocks; b++) {
    const g = blockGroup[b];
    for (let o = 0; o < out; o++) {
      const p = ((o >> 4) * w.blocks + b) * QTILE + (o & 15);
      w.scales[p] = t.scales[g * out + o];
      const word = t.qzeros[g * (out / per) + Math.floor(o / per)];
      const z = ((word >>> (bits * (o % per))) & mask) + zeroOffset;
      if (z > zmax) {
        throw new QuantFormatError(
          `${name}.qzeros: zero point ${z} (group ${g}, row ${o}) cannot be held by the ${held}-bit kernels (at most ${zmax})`,
        );
      }
      w.zeros[p] = z;
    }
  }
  return w;
}

const Q4_0_BYTES = 18;
const Q8_0_BYTES = 34;

function checkGguf(
  kind: string,
  data: Uint8Array,
  out: number,
  cols: number,
  per: number,
  name: string,
): void {
  if (cols % QBLOCK !== 0)
    throw new QuantShapeError(`${name}: ${kind} rows must be a multiple of 32 long, got ${cols}`);
  const want = out * (cols / QBLOCK) * per;
  if (data.byteLength !== want) {
    throw new QuantFormatError(
      `${name}: ${kind} data is ${data.byteLength} bytes, expected ${want} for ${out} × ${cols}`,
    );
  }
}

/**
 * GGUF Q4_0 rows (each 32 values: fp16 d, 16 bytes of nibbles, low nibbles elements 0–15, high 16–31,
 * value d·(q − 8)) as W4: the 16 nibble bytes are exactly W4's 4 × 4-byte lanes, zero 8.
 */
export function repackQ4_0(data: Uint8Array, out: number, cols: number, name = 'weight'): QWeight {
  checkGguf('Q4_0', data, out, cols, Q4_0_BYTES, name);
  const w = allocQWeight(4, out, cols, null, name);
  const B = w.blocks;
  for (let o = 0; o < out; o++) {
    const t = o >> 4;
    const r = o & 15;
    for (let b = 0; b < B; b++) {
      const src = (o * B + b) * Q4_0_BYTES;
      const p = (t * B + b) * QTILE + r;
      w.scales[p] = data[src] | (data[src + 1] << 8);
      w.zeros[p] = 8;
      const dst = (t * B + b) * 256 + r * 4;
      for (let s = 0; s < 4; s++)
        for (let i = 0; i < 4; i++) w.codes[dst + s * 64 + i] = data[src + 2 + 4 * s + i];
    }
  }
  return w;
}

/** GGUF Q8_0 rows (fp16 d, 32 int8 q, value d·q) as W8: code q + 128, zero 128. */
export function repackQ8_0(data: Uint8Array, out: number, cols: number, name = 'weight'): QWeight {
  checkGguf('Q8_0', data, out, cols, Q8_0_BYTES, name);
  const w = allocQWeight(8, out, cols, null, name);
  const B = w.blocks;
  for (let o = 0; o < out; o++) {
    const t = o >> 4;
    const r = o & 15;
    for (let b = 0; b < B; b++) {
      const src = (o * B + b) * Q8_0_BYTES;
      const p = (t * B + b) * QTILE + r;
      w.scales[p] = data[src] | (data[src + 1] << 8);
      w.zeros[p] = 128;
      const dst = (t * B + b) * 512 + r * 4;
      for (let s = 0; s < 8; s++)
        for (let i = 0; i < 4; i++) w.codes[dst + s * 64 + i] = data[src + 2 + 4 * s + i] ^ 0x80;
    }
  }
  return w;
}
