// Shared data for the quantization tests: seeded weights and correlated calibration activations.

import { Rng } from '../../src/tensor/index.js';
import { matrix, type Matrix } from '../../src/quant/index.js';

export function randomMatrix(rng: Rng, rows: number, cols: number, std = 1): Matrix {
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
  return matrix(data, rows, cols);
}

/**
 * Activations with strongly correlated columns and uneven scales, like a transformer's hidden states:
 * x = z·A + noise with a few latent factors z, and columns scaled from 0.2× to 3×.
 */
export function correlatedActivations(rng: Rng, rows: number, cols: number, factors = 8): Matrix {
  const a = randomMatrix(rng, factors, cols).data;
  const colScale = Array.from({ length: cols }, () => 0.2 + 2.8 * rng.uniform());
  const data = new Float32Array(rows * cols);
  const z = new Float64Array(factors);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < factors; f++) z[f] = rng.normal();
    for (let c = 0; c < cols; c++) {
      let s = 0.3 * rng.normal();
      for (let f = 0; f < factors; f++) s += z[f] * a[f * cols + c];
      data[r * cols + c] = s * colScale[c];
    }
  }
  return matrix(data, rows, cols);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expectSameLength(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function expectSameLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
}

/** The error `fn` throws (failing the test if it returns normally). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}
