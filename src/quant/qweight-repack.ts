// Repacking stored quantized matrices into QWeight (qweight.ts) without dequantizing: AutoGPTQ layers
// (gptq and gptq_v2 checkpoint formats, 2/4/8 bits, any group size that is a multiple of 32, act-order
// g_idx, static groups) and GGUF Q4_0 / Q8_0 rows. The byte loops run in C (native/src/qrepack.c, through
// backends/qrepack) when the addon carries them; the *Ref functions below are their TypeScript twins
// (the same bytes, tested against each other) and the path without the addon. Shapes are checked here,
// before either runs.

import { nativeRepackKernels, type RepackKernels } from '../backends/qrepack.js';
import { checkGptqBits } from './autogptq.js';
import { QuantFormatError, QuantShapeError } from './errors.js';
import {
  actOrderPerm,
  allocQWeight,
  blockBytes,
  codeSlot,
  maxZero,
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
export function repackGptq(
  t: GptqTensors,
  bits: number,
  zeroOffset: 0 | 1,
  name: string,
  kernels?: RepackKernels | null, // default: the C repackers when built; null forces the TypeScript twin
): QWeight {
  checkGptqBits(name, bits);
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

  const held = bits as QBits;
  const perm = actOrderPerm(t.gIdx, name);
  const w = allocQWeight(held, out, K, perm, name);
  const BB = blockBytes(held);
  const rowStride = w.blocks * BB; // bytes between tiles

  // Where input column c lands inside a tile: byte offset (block, k position) and code shift.
  const colByte = new Int32Array(K);
  const colShift = new Uint8Array(K);
  const blockGroup = new Int32Array(w.blocks);
  for (let j = 0; j < K; j++) {
    const c = perm ? perm[j] : j;
    const b = j >> 5;
    const kk = j & 31;
    const { offset, shift } = codeSlot(held, 0, kk);
    colByte[c] = b * BB + offset;
    colShift[c] = shift;
    if (kk === 0) blockGroup[b] = t.gIdx[c];
  }

  const k = kernels === undefined ? nativeRepackKernels() : kernels;
  const run = k ?? refRepackKernels;
  run.qrepackGptqCodes(t.qweight, out, K, bits, colByte, colShift, rowStride, w.codes);
  const zmax = maxZero(held);
  const bad = run.qrepackGptqParams(
    t.scales,
    t.qzeros,
    blockGroup,
    out,
    w.blocks,
    bits,
    zeroOffset,
    zmax,
    w.scales,
    w.zeros,
  );
  if (bad >= 0) {
    const g = Math.floor(bad / out);
    const o = bad % out;
    const z = ((t.qzeros[g * (out / per) + Math.floor(o / per)] >>> (bits * (o % per))) & mask) + zeroOffset;
    throw new QuantFormatError(
      `${name}.qzeros: zero point ${z} (group ${g}, row ${o}) cannot be held by the ${held}-bit kernels (at most ${zmax})`,
    );
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
export function repackQ4_0(
  data: Uint8Array,
  out: number,
  cols: number,
  name = 'weight',
  kernels?: RepackKernels | null,
): QWeight {
  checkGguf('Q4_0', data, out, cols, Q4_0_BYTES, name);
  const w = allocQWeight(4, out, cols, null, name);
  const k = (kernels === undefined ? nativeRepackKernels() : kernels) ?? refRepackKernels;
  k.qrepackQ4_0(data, out, w.blocks, w.codes, w.scales, w.zeros);
  return w;
}

/** GGUF Q8_0 rows (fp16 d, 32 int8 q, value d·q) as W8: code q + 128, zero 128. */
export function repackQ8_0(
  data: Uint8Array,
  out: number,
  cols: number,
  name = 'weight',
  kernels?: RepackKernels | null,
): QWeight {
  checkGguf('Q8_0', data, out, cols, Q8_0_BYTES, name);
  const w = allocQWeight(8, out, cols, null, name);
  const k = (kernels === undefined ? nativeRepackKernels() : kernels) ?? refRepackKernels;
  k.qrepackQ8_0(data, out, w.blocks, w.codes, w.scales, w.zeros);
  return w;
}

// ---- TypeScript twins of native/src/qrepack.c ---------------------------------------------------

/** AutoGPTQ words → codes, walking qweight in file order (see mc_qrepack_gptq_codes). */
function gptqCodesRef(
  qweight: Int32Array,
  out: number,
  K: number,
  bits: number,
  colByte: Int32Array,
  colShift: Uint8Array,
  rowStride: number,
  codes: Uint8Array,
): void {
  const per = 32 / bits;
  const mask = (1 << bits) - 1;
  for (let rho = 0; rho < K / per; rho++) {
    const row = rho * out;
    for (let o = 0; o < out; o++) {
      const word = qweight[row + o];
      const base = (o >> 4) * rowStride + (o & 15) * 4;
      for (let i = 0; i < per; i++) {
        const c = rho * per + i;
        codes[base + colByte[c]] |= ((word >>> (bits * i)) & mask) << colShift[c];
      }
    }
  }
}

/** AutoGPTQ scales and zero points per (tile, block, row); −1 or g·out + o of a zero above zmax. */
function gptqParamsRef(
  scales: Uint16Array,
  qzeros: Int32Array,
  blockGroup: Int32Array,
  out: number,
  blocks: number,
  bits: number,
  zeroOffset: number,
  zmax: number,
  wscales: Uint16Array,
  wzeros: Uint8Array,
): number {
  const per = 32 / bits;
  const mask = (1 << bits) - 1;
  // Tile by tile, as the C kernel, so both report the same first bad zero.
  for (let o0 = 0; o0 < out; o0 += QTILE) {
    for (let b = 0; b < blocks; b++) {
      const g = blockGroup[b];
      const p = ((o0 >> 4) * blocks + b) * QTILE;
      for (let o = o0; o < Math.min(out, o0 + QTILE); o++) {
        wscales[p + o - o0] = scales[g * out + o];
        const word = qzeros[g * (out / per) + Math.floor(o / per)];
        const z = ((word >>> (bits * (o % per))) & mask) + zeroOffset;
        if (z > zmax) return g * out + o;
        wzeros[p + o - o0] = z;
      }
    }
  }
  return -1;
}

function q4_0Ref(
  data: Uint8Array,
  out: number,
  B: number,
  codes: Uint8Array,
  scales: Uint16Array,
  zeros: Uint8Array,
): void {
  for (let o = 0; o < out; o++) {
    const t = o >> 4;
    const r = o & 15;
    for (let b = 0; b < B; b++) {
      const src = (o * B + b) * Q4_0_BYTES;
      const p = (t * B + b) * QTILE + r;
      scales[p] = data[src] | (data[src + 1] << 8);
      zeros[p] = 8;
      const dst = (t * B + b) * 256 + r * 4;
      for (let s = 0; s < 4; s++)
        for (let i = 0; i < 4; i++) codes[dst + s * 64 + i] = data[src + 2 + 4 * s + i];
    }
  }
}

function q8_0Ref(
  data: Uint8Array,
  out: number,
  B: number,
  codes: Uint8Array,
  scales: Uint16Array,
  zeros: Uint8Array,
): void {
  for (let o = 0; o < out; o++) {
    const t = o >> 4;
    const r = o & 15;
    for (let b = 0; b < B; b++) {
      const src = (o * B + b) * Q8_0_BYTES;
      const p = (t * B + b) * QTILE + r;
      scales[p] = data[src] | (data[src + 1] << 8);
      zeros[p] = 128;
      const dst = (t * B + b) * 512 + r * 4;
      for (let s = 0; s < 8; s++)
        for (let i = 0; i < 4; i++) codes[dst + s * 64 + i] = data[src + 2 + 4 * s + i] ^ 0x80;
    }
  }
}

/** The TypeScript twins as a RepackKernels (tests pass it, or null, to compare with the C kernels). */
export const refRepackKernels: RepackKernels = {
  qrepackGptqCodes: gptqCodesRef,
  qrepackGptqParams: gptqParamsRef,
  qrepackQ4_0: q4_0Ref,
  qrepackQ8_0: q8_0Ref,
};
