// AutoGPTQ's on-disk layout of a quantized linear layer (SPEC §9), for `<prefix>.qweight` etc.:
//   qweight int32 [in·bits/32, out]    word (ρ, o) holds q[o, ρ·k + j] at bits j·b.., lowest bits first
//   qzeros  int32 [groups, out·bits/32] word (g, ω) holds (zero[g, ω·k + j] − 1) the same way
//   scales  fp16  [groups, out]
//   g_idx   int32 [in]                  the group of each input column
// with k = 32/bits values per word. Readers add 1 back to each stored zero, so a true zero of 0 cannot
// be written (its −1 would also spill into the neighbouring fields in AutoGPTQ's own packer).

import { fromTypedArray, typedView, type TensorRecord } from '../io/index.js';
import { f16ToF32, f32ToF16 } from '../tensor/index.js';
import { QuantFormatError, QuantShapeError, UnstorableZeroError } from './errors.js';
import type { QuantizedLinear } from './quantized.js';

export interface PackedLinear {
  readonly out: number;
  readonly in: number;
  readonly bits: number;
  readonly groups: number;
  /** [in·bits/32, out] */
  readonly qweight: Int32Array;
  /** [groups, out·bits/32], zero − 1 per field */
  readonly qzeros: Int32Array;
  /** [groups, out] as IEEE half bits */
  readonly scales: Uint16Array;
  /** [in] */
  readonly gIdx: Int32Array;
}

/** What a reader recovers: codes [out, in], zeros [groups, out] (stored + 1), fp16 scales, g_idx. */
export interface UnpackedLinear {
  readonly out: number;
  readonly in: number;
  readonly bits: number;
  readonly groups: number;
  readonly q: Uint8Array;
  readonly zeros: Uint8Array;
  readonly scales: Float32Array;
  readonly gIdx: Int32Array;
}

/** The bit widths whose fields tile AutoGPTQ's int32 words (its 3-bit layout crosses words). */
export const isGptqBits = (bits: number): boolean => bits === 2 || bits === 4 || bits === 8;

/** A folder's or layer's GPTQ bits (`where` names it), or a QuantFormatError that says what loads. */
export function checkGptqBits(where: string, bits: number): void {
  if (!isGptqBits(bits))
    throw new QuantFormatError(
      `${where}: ${bits}-bit GPTQ is not supported (2-, 4- and 8-bit folders load; 3-bit packing is not implemented)`,
    );
}

/** Values per int32 word; only widths that tile 32 bits (AutoGPTQ's 3-bit layout is not supported). */
function perWord(bits: number): number {
  if (!isGptqBits(bits)) {
    throw new QuantShapeError(`AutoGPTQ packing supports bits 2, 4 and 8 here, got ${bits}`);
  }
  return 32 / bits;
}

export function packAutoGptq(ql: QuantizedLinear): PackedLinear {
  const { out, in: cols, bits, q, zeros, scales, gIdx } = ql;
  const k = perWord(bits);
  const mask = 2 ** bits - 1;
  if (cols % k !== 0 || out % k !== 0) {
    throw new QuantShapeError(
      `AutoGPTQ ${bits}-bit packing needs in and out divisible by ${k}, got ${out} × ${cols}`,
    );
  }
  const groups = scales.length / out;
  if (!Number.isInteger(groups) || zeros.length !== scales.length || gIdx.length !== cols) {
    throw new QuantShapeError(
      `inconsistent quantized layer: ${scales.length} scales, ${zeros.length} zeros, ${gIdx.length} g_idx for ${out} × ${cols}`,
    );
  }
  const qweight = new Int32Array((cols / k) * out);
  for (let o = 0; o < out; o++) {
    for (let rho = 0; rho < cols / k; rho++) {
      let word = 0;
      for (let j = 0; j < k; j++) {
        const v = q[o * cols + rho * k + j];
        if (v > mask)
          throw new QuantShapeError(`code ${v} at [${o}, ${rho * k + j}] does not fit in ${bits} bits`);
        word |= v << (bits * j);
      }
      qweight[rho * out + o] = word;
    }
  }
  const qzeros = new Int32Array(groups * (out / k));
  for (let g = 0; g < groups; g++) {
    for (let w = 0; w < out / k; w++) {
      let word = 0;
      for (let j = 0; j < k; j++) {
        const z = zeros[g * out + w * k + j];
        if (z === 0) throw new UnstorableZeroError(g, w * k + j);
        if (z > mask + 1)
          throw new QuantShapeError(`zero point ${z} in group ${g} does not fit in ${bits} bits`);
        word |= (z - 1) << (bits * j);
      }
      qzeros[g * (out / k) + w] = word;
    }
  }
  const half = new Uint16Array(scales.length);
  for (let i = 0; i < scales.length; i++) {
    half[i] = f32ToF16(scales[i]);
    if (!Number.isFinite(f16ToF32(half[i]))) {
      throw new QuantShapeError(`scale ${scales[i]} (group ${Math.floor(i / out)}) overflows fp16`);
    }
  }
  for (let c = 0; c < cols; c++) {
    if (!(gIdx[c] >= 0 && gIdx[c] < groups))
      throw new QuantShapeError(`g_idx[${c}] = ${gIdx[c]} is not a group`);
  }
  return { out, in: cols, bits, groups, qweight, qzeros, scales: half, gIdx: Int32Array.from(gIdx) };
}

/** The zero points [groups, out] of a packed layer: each stored zero + `zeroOffset` (256 fits). */
function zerosOf(p: PackedLinear, zeroOffset: 0 | 1): Uint16Array {
  const { out, bits, groups } = p;
  const k = perWord(bits);
  const mask = 2 ** bits - 1;
  const zeros = new Uint16Array(groups * out);
  for (let g = 0; g < groups; g++) {
    for (let w = 0; w < out / k; w++) {
      const word = p.qzeros[g * (out / k) + w];
      for (let j = 0; j < k; j++) zeros[g * out + w * k + j] = ((word >>> (bits * j)) & mask) + zeroOffset;
    }
  }
  return zeros;
}

/**
 * The layer's codes and zero points; `zeroOffset` is what a reader adds to each stored zero: 1 for the
 * `gptq` checkpoint format (stored zero − 1), 0 for `gptq_v2`.
 */
export function unpackAutoGptq(p: PackedLinear, zeroOffset: 0 | 1 = 1): UnpackedLinear {
  const { out, in: cols, bits, groups } = p;
  const k = perWord(bits);
  const mask = 2 ** bits - 1;
  const q = new Uint8Array(out * cols);
  for (let rho = 0; rho < cols / k; rho++) {
    for (let o = 0; o < out; o++) {
      const word = p.qweight[rho * out + o];
      for (let j = 0; j < k; j++) q[o * cols + rho * k + j] = (word >>> (bits * j)) & mask;
    }
  }
  // uint8 as UnpackedLinear keeps them: an 8-bit `gptq` zero of 256 wraps to 0 here (dequantizePacked reads it whole)
  const zeros = Uint8Array.from(zerosOf(p, zeroOffset));
  const scales = new Float32Array(p.scales.length);
  for (let i = 0; i < scales.length; i++) scales[i] = f16ToF32(p.scales[i]);
  return { out, in: cols, bits, groups, q, zeros, scales, gIdx: Int32Array.from(p.gIdx) };
}

/**
 * The weight [out, in] a reader of the packed layer computes with: fp16 scale · (q − (stored + zeroOffset)),
 * zeroOffset 1 for `gptq`, 0 for `gptq_v2`. An 8-bit `gptq` zero of 256 (stored 255) is taken as 256, as
 * AutoGPTQ's kernels take it (zerosOf; UnpackedLinear's uint8 zeros cannot hold it).
 */
export function dequantizePacked(p: PackedLinear, zeroOffset: 0 | 1 = 1): Float32Array {
  const u = unpackAutoGptq(p, zeroOffset);
  const zeros = zerosOf(p, zeroOffset);
  const w = new Float32Array(u.out * u.in);
  for (let o = 0; o < u.out; o++) {
    for (let c = 0; c < u.in; c++) {
      const g = u.gIdx[c] * u.out + o;
      w[o * u.in + c] = u.scales[g] * (u.q[o * u.in + c] - zeros[g]);
    }
  }
  return w;
}

/** The four tensors of a packed layer, named as AutoGPTQ names them under the linear's module path. */
export function autogptqRecords(prefix: string, p: PackedLinear): TensorRecord[] {
  const k = perWord(p.bits);
  const s = p.scales;
  return [
    fromTypedArray(`${prefix}.qweight`, [p.in / k, p.out], p.qweight),
    fromTypedArray(`${prefix}.qzeros`, [p.groups, p.out / k], p.qzeros),
    {
      name: `${prefix}.scales`,
      dtype: 'F16',
      shape: [p.groups, p.out],
      data: new Uint8Array(s.buffer, s.byteOffset, s.byteLength),
    },
    fromTypedArray(`${prefix}.g_idx`, [p.in], p.gIdx),
  ];
}

/** Read a packed layer back from its records (e.g. `(name) => reader.readSync(name)`), checking them. */
export function autogptqFromRecords(
  prefix: string,
  read: (name: string) => TensorRecord,
  bits = 4,
): PackedLinear {
  const k = perWord(bits);
  const get = (suffix: string, dtype: string, rank: number): TensorRecord => {
    const r = read(`${prefix}.${suffix}`);
    if (r.dtype !== dtype || r.shape.length !== rank) {
      throw new QuantFormatError(
        `${r.name} is ${r.dtype} [${r.shape.join(', ')}] but AutoGPTQ ${suffix} must be a rank-${rank} ${dtype} tensor`,
      );
    }
    return r;
  };
  const qw = get('qweight', 'I32', 2);
  const qz = get('qzeros', 'I32', 2);
  const sc = get('scales', 'F16', 2);
  const gi = get('g_idx', 'I32', 1);
  const [words, out] = qw.shape;
  const cols = words * k;
  const groups = sc.shape[0];
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new QuantFormatError(`${prefix}: ${what} (qweight [${qw.shape.join(', ')}], ${bits}-bit)`);
  };
  expect(sc.shape[1] === out, `scales [${sc.shape.join(', ')}] should be [groups, ${out}]`);
  expect(
    qz.shape[0] === groups && qz.shape[1] * k === out,
    `qzeros [${qz.shape.join(', ')}] should be [${groups}, ${out / k}]`,
  );
  expect(gi.shape[0] === cols, `g_idx has ${gi.shape[0]} entries, expected ${cols}`);
  const gIdx = Int32Array.from(typedView(gi) as Int32Array);
  for (let c = 0; c < cols; c++)
    expect(gIdx[c] >= 0 && gIdx[c] < groups, `g_idx[${c}] = ${gIdx[c]} is not one of ${groups} groups`);
  return {
    out,
    in: cols,
    bits,
    groups,
    qweight: Int32Array.from(typedView(qw) as Int32Array),
    qzeros: Int32Array.from(typedView(qz) as Int32Array),
    scales: Uint16Array.from(typedView(sc) as Uint16Array),
    gIdx,
  };
}
