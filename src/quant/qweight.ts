// QWeight: a quantized linear weight as it lives in memory for inference (W2, W4 and W8), repacked once at
// load into the layout the int8 kernels (native/src/qmatmul*.c, twin: backends/kernels-ref-quant.ts) stream.
//
//   value(o, c) = scale(o, b) · (code(o, c) − zero(o, b))     b = the 32-column block of packed column c
//
// * K = `in` is a multiple of 32. Columns are in *packed order*: packed column j is input feature
//   perm[j] (act-order: a stable sort of g_idx makes every group contiguous; perm null = identity). The
//   activation is gathered by perm when it is quantized, so no weight column is ever scattered.
// * Rows are grouped in tiles of 16 output rows (`out` padded up to `tiles`·16 with code 0, scale 0,
//   zero 0); every 32-bit SIMD lane of a 512-bit register holds 4 consecutive k of one row.
// * codes, tile t, block b at byte (t·blocks + b)·BB, BB = 64·bits (W2 128, W4 256, W8 512):
//     W2: byte s·64 + r·4 + i (s < 2, r < 16, i < 4) = code(r, 4s+i) | code(r, 8+4s+i) << 2
//                                                        | code(r, 16+4s+i) << 4 | code(r, 24+4s+i) << 6
//     W4: byte s·64 + r·4 + i (s < 4)                 = code(r, 4s+i) | code(r, 16+4s+i) << 4
//     W8: byte s·64 + r·4 + i (s < 8)                 = code(r, 4s+i)
//   codes are unsigned (W2 0..3, W4 0..15, W8 0..255): vpdpbusd multiplies them by the signed int8
//   activation. A W2 byte & 0x33 is the W4 byte of the same s, (byte >> 2) & 0x33 the W4 byte of s + 2:
//   kernels without a W2 loop of their own unpack to W4 that way.
// * scales: fp16 bits, zeros: uint8, both at (t·blocks + b)·16 + r.
//   W2 zeros are 0..4 and W4 zeros 0..16 (AutoGPTQ v1 stores zero − 1 in 2 or 4 bits, so 4 and 16
//   occur), W8 zeros 0..255. A weight whose zeros are all 2^(bits−1) is symmetric (isSymmetric): the
//   decode GEMV then leaves its zeros unread (streamedBytes).
//
// Lossless holders of the common formats (no dequantization at any point):
//   AutoGPTQ 4-bit g32·n (any act-order): codes, fp16 scales and zeros copied, scales repeated per block.
//   AutoGPTQ 2-bit: W2, the codes copied, so memory holds the file's bytes (plus the repeated scales).
//   AutoGPTQ 8-bit: W8 (a v1 zero of 256 cannot be held: QuantFormatError).
//   GGUF Q4_0 (d·(q − 8)): W4, code = q, zero = 8, scale = d.  GGUF Q8_0 (d·q, q int8): W8, code = q + 128,
//   zero = 128, scale = d.
// Nothing here ever materialises an f32/bf16 copy of the matrix except dequantizeQWeight (tests).

import { hugePageBuffer } from '../backends/quant.js';
import { allocatesFromHeap, f16ToF32, Tensor } from '../tensor/index.js';
import { QuantFormatError, QuantShapeError } from './errors.js';

export const QBLOCK = 32;
export const QTILE = 16;

export type QBits = 2 | 4 | 8;

export interface QWeight {
  readonly bits: QBits;
  /** Output features (rows). */
  readonly out: number;
  /** Input features (columns); a multiple of 32. */
  readonly in: number;
  /** ceil(out / 16) */
  readonly tiles: number;
  /** in / 32 */
  readonly blocks: number;
  readonly codes: Uint8Array;
  readonly scales: Uint16Array;
  readonly zeros: Uint8Array;
  /** Packed column j is input feature perm[j]; null when the columns are in their natural order. */
  readonly perm: Int32Array | null;
}

/** Bytes of codes per (tile, block). */
export function blockBytes(bits: QBits): number {
  return 64 * bits;
}

/** The largest zero point the kernels take at each width (the prefill's c − z must fit int8). */
export function maxZero(bits: QBits): number {
  return bits === 8 ? 255 : bits === 4 ? 16 : 4;
}

/**
 * Where packed column kk (< 32) of tile row r (< 16) lives inside a (tile, block) chunk: its byte
 * offset and the shift of its code inside that byte (the layout above).
 */
export function codeSlot(bits: QBits, r: number, kk: number): { offset: number; shift: number } {
  if (bits === 8) return { offset: (kk >> 2) * 64 + r * 4 + (kk & 3), shift: 0 };
  if (bits === 4) return { offset: ((kk & 15) >> 2) * 64 + r * 4 + (kk & 3), shift: kk >= 16 ? 4 : 0 };
  return { offset: ((kk >> 2) & 1) * 64 + r * 4 + (kk & 3), shift: 2 * (kk >> 3) };
}

/**
 * Quantized matrices of a few MB (a W4 2304 × 2304 matrix holds 2.65 MB of codes) share chunks of
 * ARENA_CHUNK bytes instead of getting a buffer each. The allocator puts huge pages only under buffers
 * of 4 MiB and more, and malloc serves mid-sized ones from its heap on 4 KiB pages: measured there, the
 * W4 layer GEMVs streamed at 0.55–0.75× the speed of the same weights in one huge-page buffer (TLB
 * misses). A chunk is one fresh mapping on huge pages; the pages of its unused tail are never touched,
 * so they cost no memory. Chunks, and matrices above ARENA_MAX (a buffer each), start on a 2 MiB
 * boundary (hugePageBuffer): where the allocator placed them, their partial first and last 2 MiB stayed
 * on 4 KiB pages, ~20% of a W8 5760 × 2304 matrix and up to 4 of a chunk's 48 MiB. Chunks are freed by
 * the garbage collector with the last weight in them.
 * Where buffers come from a heap that cannot give memory back (the wasm backend), every matrix keeps
 * its own buffer.
 */
const ARENA_CHUNK = 48 << 20;
const ARENA_MIN = 64 << 10;
const ARENA_MAX = 8 << 20;
let arena: { bytes: Uint8Array; used: number } | null = null;

/** `bytes` bytes (a multiple of 64 apart) from the current chunk, or a new one; the caller zeroes them. */
function arenaBytes(bytes: number): { buffer: ArrayBufferLike; byteOffset: number } {
  const need = Math.ceil(bytes / 64) * 64;
  if (arena === null || arena.used + need > arena.bytes.length) {
    // not filled: untouched pages stay unmapped
    const h = hugePageBuffer(ARENA_CHUNK);
    let chunk: Uint8Array;
    if (h) chunk = new Uint8Array(h.buffer, h.byteOffset, ARENA_CHUNK);
    else {
      const t = Tensor.empty([ARENA_CHUNK], 'u8').keep();
      chunk = t.data.subarray(t.offset, t.offset + ARENA_CHUNK) as Uint8Array;
    }
    arena = { bytes: chunk, used: 0 };
  }
  const at = arena.bytes.byteOffset + arena.used;
  arena.used += need;
  return { buffer: arena.bytes.buffer, byteOffset: at };
}

/**
 * Zeroed memory from the engine's allocator (64-byte aligned, huge pages under the native backend), like
 * float weights: the decode kernels stream it once per token.
 */
function engineMemory(n: number, dtype: 'u8' | 'f16'): Uint8Array | Uint16Array {
  const bytes = n * (dtype === 'f16' ? 2 : 1);
  if (bytes >= ARENA_MIN && bytes <= ARENA_MAX && !allocatesFromHeap()) {
    const { buffer, byteOffset } = arenaBytes(bytes);
    const a = dtype === 'u8' ? new Uint8Array(buffer, byteOffset, n) : new Uint16Array(buffer, byteOffset, n);
    return a.fill(0);
  }
  const h = bytes > ARENA_MAX && !allocatesFromHeap() ? hugePageBuffer(bytes) : null;
  if (h)
    return dtype === 'u8'
      ? new Uint8Array(h.buffer, h.byteOffset, n)
      : new Uint16Array(h.buffer, h.byteOffset, n);
  const t = Tensor.zeros([n], dtype).keep();
  return t.data.subarray(t.offset, t.offset + n) as Uint8Array | Uint16Array;
}

/** An all-zero QWeight of the given shape (codes, scales and zeros to be filled by a repacker). */
export function allocQWeight(
  bits: QBits,
  out: number,
  cols: number,
  perm: Int32Array | null,
  name = 'weight',
): QWeight {
  if (bits !== 2 && bits !== 4 && bits !== 8)
    throw new QuantShapeError(`${name}: in-memory weights are 2-, 4- or 8-bit, got ${bits}`);
  if (!(Number.isInteger(out) && out > 0 && Number.isInteger(cols) && cols > 0) || cols % QBLOCK !== 0) {
    throw new QuantShapeError(
      `${name}: a quantized weight needs a positive out and an input size that is a multiple of 32, got ${out} × ${cols}`,
    );
  }
  if (perm && perm.length !== cols)
    throw new QuantShapeError(`${name}: perm has ${perm.length} entries for ${cols} columns`);
  const tiles = Math.ceil(out / QTILE);
  const blocks = cols / QBLOCK;
  return {
    bits,
    out,
    in: cols,
    tiles,
    blocks,
    codes: engineMemory(tiles * blocks * blockBytes(bits), 'u8') as Uint8Array,
    scales: engineMemory(tiles * blocks * QTILE, 'f16') as Uint16Array,
    zeros: engineMemory(tiles * blocks * QTILE, 'u8') as Uint8Array,
    perm,
  };
}

/** Byte index of code (o, j) (j in packed order) and the shift of its code inside that byte. */
export function codeAt(w: QWeight, o: number, j: number): { byte: number; shift: number } {
  const t = Math.floor(o / QTILE);
  const b = Math.floor(j / QBLOCK);
  const { offset, shift } = codeSlot(w.bits, o - t * QTILE, j - b * QBLOCK);
  return { byte: (t * w.blocks + b) * blockBytes(w.bits) + offset, shift };
}

/** Index into scales/zeros of row o, block b. */
export function paramAt(w: QWeight, o: number, b: number): number {
  const t = Math.floor(o / QTILE);
  return (t * w.blocks + b) * QTILE + (o - t * QTILE);
}

export function getCode(w: QWeight, o: number, j: number): number {
  const { byte, shift } = codeAt(w, o, j);
  return (w.codes[byte] >> shift) & ((1 << w.bits) - 1);
}

export function setCode(w: QWeight, o: number, j: number, code: number): void {
  const { byte, shift } = codeAt(w, o, j);
  const mask = (1 << w.bits) - 1;
  w.codes[byte] = (w.codes[byte] & ~(mask << shift)) | ((code & mask) << shift);
}

/** Bytes the weight occupies in memory. */
export function qweightBytes(w: QWeight): number {
  return w.codes.byteLength + w.scales.byteLength + w.zeros.byteLength + (w.perm?.byteLength ?? 0);
}

/** Bytes one decoded token streams from the weight: all of it, but a symmetric weight's zeros. */
export function streamedBytes(w: QWeight): number {
  return qweightBytes(w) - (isSymmetric(w) ? w.zeros.byteLength : 0);
}

const symmetric = new WeakMap<QWeight, boolean>();

/**
 * Whether every zero of the weight's real rows (not a last tile's padding) is 2^(bits−1): the int8 head
 * and W8 layers (symmetric per 32), GGUF Q4_0/Q8_0, AutoGPTQ sym=True. Such weights go to the kernels
 * with their bit set in qmatmul's `sym` mask. Scanned once, when the weight is first planned: a loaded
 * weight's arrays do not change.
 */
export function isSymmetric(w: QWeight): boolean {
  let known = symmetric.get(w);
  if (known === undefined) symmetric.set(w, (known = zerosAllMid(w)));
  return known;
}

function zerosAllMid(w: QWeight): boolean {
  const mid = 1 << (w.bits - 1);
  const block = w.blocks * QTILE; // one tile's zeros
  for (let t = 0; t < w.tiles; t++) {
    const rows = Math.min(QTILE, w.out - t * QTILE);
    for (let i = t * block, end = i + block; i < end; i += QTILE)
      for (let r = 0; r < rows; r++) if (w.zeros[i + r] !== mid) return false;
  }
  return true;
}

/**
 * The stable sort of input columns by group that makes act-order groups contiguous, or null when g_idx is
 * already non-decreasing. Throws when a sorted group does not cover whole 32-column blocks.
 */
export function actOrderPerm(gIdx: Int32Array, name: string): Int32Array | null {
  const K = gIdx.length;
  let sorted = true;
  for (let c = 1; c < K && sorted; c++) sorted = gIdx[c] >= gIdx[c - 1];
  const perm = new Int32Array(K);
  for (let c = 0; c < K; c++) perm[c] = c;
  if (!sorted) perm.sort((a, b) => gIdx[a] - gIdx[b] || a - b);
  for (let j = 0; j < K; j += QBLOCK) {
    const g = gIdx[perm[j]];
    for (let i = 1; i < QBLOCK; i++) {
      if (gIdx[perm[j + i]] !== g) {
        throw new QuantFormatError(
          `${name}.g_idx: group ${g} has a run of columns that is not a whole number of 32-column blocks ` +
            '(the int4/int8 kernels need group sizes that are multiples of 32)',
        );
      }
    }
  }
  return sorted ? null : perm;
}

/** The weight [out, in] in the original column order, in f32 (for tests and the e2e reference only). */
export function dequantizeQWeight(w: QWeight): Float32Array {
  const K = w.in;
  const out = new Float32Array(w.out * K);
  for (let o = 0; o < w.out; o++) {
    for (let j = 0; j < K; j++) {
      const p = paramAt(w, o, Math.floor(j / QBLOCK));
      const c = w.perm ? w.perm[j] : j;
      out[o * K + c] = f16ToF32(w.scales[p]) * (getCode(w, o, j) - w.zeros[p]);
    }
  }
  return out;
}
