// The dense row-major matrices the quantizers work on. Plain typed arrays rather than Tensors: GPTQ is
// a long chain of in-place Float64 updates that the op front end (with its autodiff and pools) does
// not help with, and the layer's tensors are converted once at the boundary.

import { bf16ToF32, f16ToF32, type Tensor } from '../tensor/index.js';
import { QuantShapeError } from './errors.js';

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** rows × cols values, row-major. */
  readonly data: Float64Array | Float32Array;
}

/** Wraps (does not copy) `data` as a rows × cols matrix after checking its length. */
export function matrix(data: Float64Array | Float32Array, rows: number, cols: number): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new QuantShapeError(`matrix dimensions must be non-negative integers, got ${rows} × ${cols}`);
  }
  if (data.length !== rows * cols) {
    throw new QuantShapeError(
      `matrix ${rows} × ${cols} needs ${rows * cols} values but data has ${data.length}`,
    );
  }
  return { rows, cols, data };
}

/** A 2-D tensor (f32, f64, bf16 or f16; any strides) as a fresh Float64 matrix. */
export function matrixFromTensor(t: Tensor): Matrix {
  if (t.rank !== 2)
    throw new QuantShapeError(`expected a 2-D weight or activation tensor, got ${t.toString()}`);
  const [rows, cols] = t.shape;
  const data = new Float64Array(rows * cols);
  const src = t.data;
  if (t.dtype === 'i32' || t.dtype === 'u8' || t.dtype === 'i8') {
    throw new QuantShapeError(`${t.toString()} is not a floating-point tensor`);
  }
  const decode = t.dtype === 'bf16' ? bf16ToF32 : t.dtype === 'f16' ? f16ToF32 : (v: number) => v;
  const [s0, s1] = t.strides;
  for (let r = 0; r < rows; r++) {
    const base = t.offset + r * s0;
    for (let c = 0; c < cols; c++) data[r * cols + c] = decode(src[base + c * s1]);
  }
  return { rows, cols, data };
}
