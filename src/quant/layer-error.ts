// How much a quantized layer changes what it computes on given inputs: the quantity GPTQ minimizes.

import { QuantShapeError } from './errors.js';
import type { Matrix } from './matrix.js';

/** ‖X·Wᵀ − X·Ŵᵀ‖²_F for activations x [n, in] and weights w, wHat [out, in]. */
export function outputError(x: Matrix, w: Matrix, wHat: Matrix): number {
  if (w.rows !== wHat.rows || w.cols !== wHat.cols) {
    throw new QuantShapeError(
      `weights differ in shape: ${w.rows} × ${w.cols} vs ${wHat.rows} × ${wHat.cols}`,
    );
  }
  if (x.cols !== w.cols) {
    throw new QuantShapeError(`activations have ${x.cols} columns but the weight has ${w.cols} inputs`);
  }
  const n = w.cols;
  const delta = new Float64Array(w.data.length);
  for (let i = 0; i < delta.length; i++) delta[i] = w.data[i] - wHat.data[i];
  let total = 0;
  for (let r = 0; r < x.rows; r++) {
    const xr = r * n;
    for (let o = 0; o < w.rows; o++) {
      const dr = o * n;
      let s = 0;
      for (let c = 0; c < n; c++) s += x.data[xr + c] * delta[dr + c];
      total += s * s;
    }
  }
  return total;
}
