import { describe, expect, it } from 'vitest';
import { HessianAccumulator, QuantShapeError, matrix } from '../../src/quant/index.js';
import { Rng } from '../../src/tensor/index.js';
import { randomMatrix } from './helpers.js';

describe('HessianAccumulator', () => {
  it('streams batches into H = (2/n)·XᵀX over all rows, symmetric', () => {
    const cols = 7;
    const x = randomMatrix(new Rng(3), 70, cols); // 70 rows: chunk and four-row remainders
    const want = new Float64Array(cols * cols);
    for (let r = 0; r < 70; r++) {
      for (let i = 0; i < cols; i++)
        for (let j = 0; j < cols; j++) want[i * cols + j] += x.data[r * cols + i] * x.data[r * cols + j];
    }
    const acc = new HessianAccumulator(cols);
    let at = 0;
    for (const rows of [33, 1, 5, 31]) {
      acc.add(matrix(x.data.subarray(at * cols, (at + rows) * cols), rows, cols));
      at += rows;
    }
    expect(acc.samples).toBe(70);
    const h = acc.hessian();
    for (let i = 0; i < cols * cols; i++) expect(h[i]).toBeCloseTo((2 / 70) * want[i], 12);
    for (let i = 0; i < cols; i++)
      for (let j = 0; j < cols; j++) expect(h[i * cols + j]).toBe(h[j * cols + i]);
  });

  it('accepts Float32 activations', () => {
    const acc = new HessianAccumulator(2);
    acc.add(matrix(new Float32Array([1, 2, 3, 4]), 2, 2));
    expect(Array.from(acc.hessian())).toEqual([10, 14, 14, 20]); // (2/2)·[[1+9, 2+12], [.., 4+16]]
  });

  it('rejects mismatched columns and an empty calibration set', () => {
    const acc = new HessianAccumulator(3);
    expect(() => acc.add(matrix(new Float64Array(4), 2, 2))).toThrow(QuantShapeError);
    expect(() => acc.hessian()).toThrow(/no calibration rows/);
    expect(() => new HessianAccumulator(0)).toThrow(QuantShapeError);
  });
});
