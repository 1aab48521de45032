// The min–max group quantizer of SPEC §9, written to match AutoGPTQ's `Quantizer.find_params` and
// `quantize` (GPTQ's quant.py) value for value, quirks included, but in Float64.
//
//   asymmetric: range [min(x, 0), max(x, 0)], scale = (max − min)/maxq, zero = round(−min/scale)
//   symmetric:  max = max(|min|, max); min = −max only when min < 0; zero = (maxq + 1)/2
//   q = clamp(round(w/scale) + zero, 0, maxq),  dequant = scale·(q − zero)
//
// `round` is round-half-to-even, as torch.round is.

import { QuantShapeError } from './errors.js';

export interface GroupParams {
  scale: number;
  zero: number;
}

export interface QuantizerOptions {
  /** Bits per weight (2–8); SPEC §9 and MiniCPM-2B-sft-int4 use 4. */
  bits?: number;
  /** Symmetric grid with zero = 2^(bits−1); default false (asymmetric, as MiniCPM-2B-sft-int4). */
  sym?: boolean;
  /**
   * Keep asymmetric zero points ≥ 1 so that AutoGPTQ's `zero − 1` storage can hold them: a group whose
   * zero would be 0 (no negative values worth a step) gets zero 1 and scale max/(maxq − 1) instead.
   * Off by default, which is SPEC §9 exactly.
   */
  storableZeros?: boolean;
}

export interface Quantizer {
  readonly bits: number;
  readonly maxq: number;
  readonly sym: boolean;
  readonly storableZeros: boolean;
}

export function makeQuantizer(opts: QuantizerOptions = {}): Quantizer {
  const bits = opts.bits ?? 4;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new QuantShapeError(`bits must be an integer from 2 to 8, got ${bits}`);
  }
  return { bits, maxq: 2 ** bits - 1, sym: opts.sym ?? false, storableZeros: opts.storableZeros ?? false };
}

/** Round half to even, like torch.round (Math.round rounds halves up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Group parameters from the group's minimum and maximum. */
export function paramsFromRange(quant: Quantizer, min: number, max: number): GroupParams {
  let lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (quant.sym) {
    // AutoGPTQ mirrors only when the group has a negative value: an all-non-negative group keeps lo = 0
    // and so gets scale max/maxq around zero 2^(bits−1), which clips its top half. Kept for parity.
    hi = Math.max(-lo, hi);
    if (lo < 0) lo = -hi;
  }
  // An all-zero group would give scale 0; AutoGPTQ widens it to [−1, 1] (every q is then the zero point).
  if (lo === 0 && hi === 0) {
    lo = -1;
    hi = 1;
  }
  const scale = (hi - lo) / quant.maxq;
  if (quant.sym) return { scale, zero: (quant.maxq + 1) / 2 };
  const zero = roundHalfEven(Math.abs(lo) / scale); // lo ≤ 0; abs keeps a zero of 0 from being −0
  if (zero === 0 && quant.storableZeros) return { scale: hi / (quant.maxq - 1), zero: 1 };
  return { scale, zero };
}

/** Group parameters of values[from, to). */
export function groupParams(
  quant: Quantizer,
  values: ArrayLike<number>,
  from = 0,
  to = values.length,
): GroupParams {
  if (!(to > from)) throw new QuantShapeError(`a quantization group needs at least one value`);
  let min = Infinity;
  let max = -Infinity;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new QuantShapeError(`quantization group has a non-finite value ${v}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return paramsFromRange(quant, min, max);
}

/** The integer code of w, in [0, maxq]. */
export function quantizeValue(quant: Quantizer, w: number, p: GroupParams): number {
  const q = roundHalfEven(w / p.scale) + p.zero;
  return q < 0 ? 0 : q > quant.maxq ? quant.maxq : q;
}

export function dequantizeValue(q: number, p: GroupParams): number {
  return p.scale * (q - p.zero);
}
