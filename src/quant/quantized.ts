// A quantized linear layer in memory: integer codes plus per-group scale and zero point. The layout is
// AutoGPTQ's logical one (groups × out for scales and zeros, g_idx per input column), unpacked.

import type { Matrix } from './matrix.js';
import { QuantShapeError } from './errors.js';

export interface QuantizedLinear {
  /** Output features (rows of the weight). */
  readonly out: number;
  /** Input features (columns of the weight). */
  readonly in: number;
  readonly bits: number;
  /** Input columns per group (the whole row when the layer was quantized per channel). */
  readonly groupSize: number;
  readonly sym: boolean;
  /** Integer codes, out × in row-major, in the original column order. */
  readonly q: Uint8Array;
  /** groups × out. */
  readonly scales: Float64Array;
  /** groups × out zero points, in [0, 2^bits − 1]. */
  readonly zeros: Uint8Array;
  /** The group of each input column (c / groupSize, except under act-order). */
  readonly gIdx: Int32Array;
  /** The dequantized weight scale·(q − zero), out × in row-major: what the layer computes with. */
  readonly weight: Float64Array;
}

/** Number of groups of `columns` input columns; groupSize −1 means one group per row. */
export function groupCount(columns: number, groupSize: number): number {
  return Math.ceil(columns / resolveGroupSize(columns, groupSize));
}

/** groupSize −1 (AutoGPTQ's "per channel") becomes the row length. */
export function resolveGroupSize(columns: number, groupSize: number): number {
  if (groupSize === -1) return Math.max(columns, 1);
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new QuantShapeError(`groupSize must be a positive integer or -1 (per channel), got ${groupSize}`);
  }
  return groupSize;
}

/** scale·(q − zero) for every weight, from the codes, group parameters and g_idx. */
export function dequantize(ql: Omit<QuantizedLinear, 'weight'>): Float64Array {
  const { out, in: cols, q, scales, zeros, gIdx } = ql;
  const w = new Float64Array(out * cols);
  for (let r = 0; r < out; r++) {
    for (let c = 0; c < cols; c++) {
      const k = gIdx[c] * out + r;
      w[r * cols + c] = scales[k] * (q[r * cols + c] - zeros[k]);
    }
  }
  return w;
}

/** Check that a weight matrix is usable: finite and non-empty. */
export function checkWeight(w: Matrix): void {
  if (w.rows < 1 || w.cols < 1) throw new QuantShapeError(`weight is empty (${w.rows} × ${w.cols})`);
  for (let i = 0; i < w.data.length; i++) {
    if (!Number.isFinite(w.data[i])) {
      const r = Math.floor(i / w.cols);
      throw new QuantShapeError(`weight has a non-finite value ${w.data[i]} at [${r}, ${i - r * w.cols}]`);
    }
  }
}
