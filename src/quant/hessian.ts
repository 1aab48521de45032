// GPTQ's proxy Hessian of one linear layer, H = (2/n)·XᵀX over the n calibration rows (token
// activations entering the layer), accumulated batch by batch so calibration can stream through a model.
// AutoGPTQ keeps a running mean weighted by sequences rather than rows; only the scale of H differs,
// and GPTQ's result does not depend on that scale (damping is relative to mean(diag H)).

import { QuantShapeError } from './errors.js';
import type { Matrix } from './matrix.js';

/** Rows per pass over the upper triangle: the Σ row segment stays in cache while these rows stream by. */
const ROW_CHUNK = 32;

export class HessianAccumulator {
  /** Σ xᵀx over all rows so far; only the upper triangle is maintained. */
  private readonly sum: Float64Array;
  private count = 0;

  constructor(readonly columns: number) {
    if (!Number.isInteger(columns) || columns < 1) {
      throw new QuantShapeError(`a Hessian needs a positive number of columns, got ${columns}`);
    }
    this.sum = new Float64Array(columns * columns);
  }

  /** Calibration rows seen so far. */
  get samples(): number {
    return this.count;
  }

  /** Add a batch of activation rows x [rows, columns]. */
  add(x: Matrix): void {
    const n = this.columns;
    if (x.cols !== n) {
      throw new QuantShapeError(`activations have ${x.cols} columns but the layer's Hessian has ${n}`);
    }
    const s = this.sum;
    const d = x.data;
    for (let r0 = 0; r0 < x.rows; r0 += ROW_CHUNK) {
      const r1 = Math.min(r0 + ROW_CHUNK, x.rows);
      for (let i = 0; i < n; i++) {
        const si = i * n;
        let r = r0;
        // Four rows per pass over Σ's row segment: one load and store of Σ per four multiply–adds.
        for (; r + 4 <= r1; r += 4) {
          const x0 = r * n;
          const x1 = x0 + n;
          const x2 = x1 + n;
          const x3 = x2 + n;
          const a0 = d[x0 + i];
          const a1 = d[x1 + i];
          const a2 = d[x2 + i];
          const a3 = d[x3 + i];
          for (let j = i; j < n; j++)
            s[si + j] += a0 * d[x0 + j] + a1 * d[x1 + j] + a2 * d[x2 + j] + a3 * d[x3 + j];
        }
        for (; r < r1; r++) {
          const xr = r * n;
          const a = d[xr + i];
          for (let j = i; j < n; j++) s[si + j] += a * d[xr + j];
        }
      }
    }
    this.count += x.rows;
  }

  /** H = (2/n)·Σ xᵀx as a full symmetric columns × columns matrix (a fresh copy). */
  hessian(): Float64Array {
    const n = this.columns;
    if (this.count === 0) throw new QuantShapeError('no calibration rows were added to the Hessian');
    const f = 2 / this.count;
    const h = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = this.sum[i * n + j] * f;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
    }
    return h;
  }
}
