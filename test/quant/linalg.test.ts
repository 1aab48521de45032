import { describe, expect, it } from 'vitest';
import {
  NotPositiveDefiniteError,
  QuantShapeError,
  choleskyInPlace,
  invertLower,
  upperCholeskyOfInverse,
} from '../../src/quant/index.js';
import { Rng } from '../../src/tensor/index.js';
import { thrown } from './helpers.js';

/** A well-conditioned SPD matrix AAᵀ/n + I. */
function spd(rng: Rng, n: number): Float64Array {
  const a = Array.from({ length: n * n }, () => rng.normal());
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * a[j * n + k];
      h[i * n + j] = s / n + (i === j ? 1 : 0);
    }
  }
  return h;
}

function matmul(a: Float64Array, b: Float64Array, n: number, transA = false): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (transA ? a[k * n + i] : a[i * n + k]) * b[k * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

function maxOffIdentity(m: Float64Array, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(m[i * n + j] - (i === j ? 1 : 0)));
  return e;
}

// Sizes hit every remainder of the four-row and two-row blocks.
const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 13, 30];

describe('dense linear algebra for GPTQ', () => {
  it.each(SIZES)('Cholesky: L is lower triangular with L·Lᵀ = H (n = %i)', (n) => {
    const h = spd(new Rng(n), n);
    const l = h.slice();
    choleskyInPlace(l, n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
    const llt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += l[i * n + k] * l[j * n + k];
        llt[i * n + j] = s;
      }
    }
    for (let i = 0; i < n * n; i++) expect(llt[i]).toBeCloseTo(h[i], 12);
  });

  it.each(SIZES)('invertLower: L·L⁻¹ = I (n = %i)', (n) => {
    const l = spd(new Rng(100 + n), n);
    choleskyInPlace(l, n);
    const x = invertLower(l, n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(x[i * n + j]).toBe(0);
    expect(maxOffIdentity(matmul(l, x, n), n)).toBeLessThan(1e-12);
  });

  it.each(SIZES)('upperCholeskyOfInverse: U upper with positive diagonal and UᵀU·H = I (n = %i)', (n) => {
    const h = spd(new Rng(200 + n), n);
    const u = upperCholeskyOfInverse(h, n);
    for (let i = 0; i < n; i++) {
      expect(u[i * n + i]).toBeGreaterThan(0);
      for (let j = 0; j < i; j++) expect(u[i * n + j]).toBe(0);
    }
    expect(maxOffIdentity(matmul(matmul(u, u, n, true), h, n), n)).toBeLessThan(1e-12);
  });

  it('a matrix that is not positive definite fails with the column of H that broke', () => {
    // Leading 2×2 block [[1, 2], [2, 1]] is indefinite; the other diagonal entries are fine.
    const h = new Float64Array([1, 2, 0, 2, 1, 0, 0, 0, 5]);
    const e = thrown(() => choleskyInPlace(h.slice(), 3));
    expect(e).toBeInstanceOf(NotPositiveDefiniteError);
    expect(e).toMatchObject({ column: 1, message: expect.stringMatching(/damp/) as unknown });
    // The reversed factorization meets the bad pivot elsewhere but reports a column of H.
    const g = new Float64Array([5, 0, 0, 0, 1, 2, 0, 2, 1]);
    expect(() => upperCholeskyOfInverse(g, 3)).toThrow(/column 1/);
    expect(() => choleskyInPlace(new Float64Array(5), 2)).toThrow(QuantShapeError);
  });
});
