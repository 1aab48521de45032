/**
 * Dense Cholesky and triangular solves on row-major Float64Arrays. The GP is small (a few hundred
 * runs at most), so a plain O(n³) factorisation is fast enough and keeps the search dependency-free.
 */
import { SearchError } from './errors.js';

/** Lower factor L with A = L·Lᵀ, or null when A is not (numerically) positive definite. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= L[ri + k] * L[rj + k];
      if (i === j) {
        if (!(s > 0)) return null;
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j];
      }
    }
  }
  return L;
}

/**
 * Cholesky with escalating diagonal jitter: near-duplicate points make a noise-free kernel matrix
 * singular, and a tiny nugget (relative to the diagonal) is the standard, harmless fix.
 */
export function choleskyJitter(a: Float64Array, n: number, scale: number): { L: Float64Array; jitter: number } {
  let L = cholesky(a, n);
  if (L) return { L, jitter: 0 };
  const work = new Float64Array(a);
  for (let jitter = 1e-10 * scale; jitter <= 1e-2 * scale; jitter *= 10) {
    for (let i = 0; i < n; i++) work[i * n + i] = a[i * n + i] + jitter;
    L = cholesky(work, n);
    if (L) return { L, jitter };
  }
  throw new SearchError(
    `kernel matrix of ${n} points is not positive definite even with jitter; check the history for NaN coordinates.`,
  );
}

/** Solves L·x = b (L lower triangular). */
export function solveLower(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[ri + k] * x[k];
    x[i] = s / L[ri + i];
  }
  return x;
}

/** Solves Lᵀ·x = b (L lower triangular). */
export function solveUpperT(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = Float64Array.from(b);
  for (let i = n - 1; i >= 0; i--) {
    x[i] /= L[i * n + i];
    const xi = x[i];
    for (let k = 0; k < i; k++) x[k] -= L[i * n + k] * xi;
  }
  return x;
}
