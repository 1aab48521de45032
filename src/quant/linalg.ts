// The dense symmetric linear algebra GPTQ needs, in Float64 on row-major n × n arrays: Cholesky, the
// inverse of a lower-triangular factor, and the upper Cholesky factor of H⁻¹. Inner loops run along
// rows (contiguous memory); each routine is about n³/6 multiply–adds.

import { NotPositiveDefiniteError, QuantShapeError } from './errors.js';

function checkSquare(a: Float64Array, n: number): void {
  if (a.length !== n * n) throw new QuantShapeError(`expected a ${n} × ${n} matrix, got ${a.length} values`);
}

/** Σ_k a[ai + k]·b[bi + k] for k < len, with four accumulators (shorter dependency chains). */
function dot(a: Float64Array, ai: number, b: Float64Array, bi: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[ai + k] * b[bi + k];
    s1 += a[ai + k + 1] * b[bi + k + 1];
    s2 += a[ai + k + 2] * b[bi + k + 2];
    s3 += a[ai + k + 3] * b[bi + k + 3];
  }
  for (; k < len; k++) s0 += a[ai + k] * b[bi + k];
  return s0 + s1 + (s2 + s3);
}

/**
 * In place: the lower triangle of symmetric positive-definite `a` becomes L with a = L·Lᵀ; the strict
 * upper triangle is zeroed. Only the lower triangle of the input is read. Rows are done four at a time
 * against two earlier rows at once, so each load feeds several multiply–adds (about 2.5× the speed of
 * the one-dot-at-a-time loop in V8).
 */
export function choleskyInPlace(a: Float64Array, n: number): void {
  checkSquare(a, n);
  let i0 = 0;
  for (; i0 + 4 <= n; i0 += 4) {
    choleskyPanel(a, n, i0);
    for (let i = i0; i < i0 + 4; i++) choleskyRow(a, n, i, i0);
  }
  for (let i = i0; i < n; i++) choleskyRow(a, n, i, 0);
}

/** L[i0..i0+3, 0..i0) from the already factored rows above (i0 is a multiple of 4, so j pairs fit). */
function choleskyPanel(a: Float64Array, n: number, i0: number): void {
  const r0 = i0 * n;
  const r1 = r0 + n;
  const r2 = r1 + n;
  const r3 = r2 + n;
  for (let j = 0; j < i0; j += 2) {
    const rj = j * n;
    const rk = rj + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let k = 0; k < j; k++) {
      const v = a[rj + k];
      const w = a[rk + k];
      const b0 = a[r0 + k];
      const b1 = a[r1 + k];
      const b2 = a[r2 + k];
      const b3 = a[r3 + k];
      s0 += b0 * v;
      s1 += b1 * v;
      s2 += b2 * v;
      s3 += b3 * v;
      t0 += b0 * w;
      t1 += b1 * w;
      t2 += b2 * w;
      t3 += b3 * w;
    }
    // Column j first; column j + 1 also needs the k = j term, which uses the new L[·, j].
    const d = a[rj + j];
    const x0 = (a[r0 + j] - s0) / d;
    const x1 = (a[r1 + j] - s1) / d;
    const x2 = (a[r2 + j] - s2) / d;
    const x3 = (a[r3 + j] - s3) / d;
    a[r0 + j] = x0;
    a[r1 + j] = x1;
    a[r2 + j] = x2;
    a[r3 + j] = x3;
    const lj = a[rk + j];
    const d1 = a[rk + j + 1];
    a[r0 + j + 1] = (a[r0 + j + 1] - t0 - x0 * lj) / d1;
    a[r1 + j + 1] = (a[r1 + j + 1] - t1 - x1 * lj) / d1;
    a[r2 + j + 1] = (a[r2 + j + 1] - t2 - x2 * lj) / d1;
    a[r3 + j + 1] = (a[r3 + j + 1] - t3 - x3 * lj) / d1;
  }
}

/** Row i of L for columns [from, i] (earlier columns already done), then the diagonal. */
function choleskyRow(a: Float64Array, n: number, i: number, from: number): void {
  const ri = i * n;
  for (let j = from; j < i; j++) {
    const rj = j * n;
    a[ri + j] = (a[ri + j] - dot(a, ri, a, rj, j)) / a[rj + j];
  }
  const d = a[ri + i] - dot(a, ri, a, ri, i);
  if (!(d > 0)) throw new NotPositiveDefiniteError(i, d);
  a[ri + i] = Math.sqrt(d);
  a.fill(0, ri + i + 1, ri + n);
}

/**
 * L⁻¹ of a lower-triangular L with a positive diagonal, row by row: L[i,i]·X[i,:] = e_i − Σ_k L[i,k]·X[k,:].
 * Two rows at a time against four earlier rows at once, for the same load reuse as the factorization.
 */
export function invertLower(l: Float64Array, n: number): Float64Array {
  checkSquare(l, n);
  const x = new Float64Array(n * n);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const ri = i * n;
    const rn = ri + n;
    x[ri + i] = 1;
    x[rn + i + 1] = 1;
    let k = 0;
    for (; k + 4 <= i; k += 4) {
      const c0 = l[ri + k];
      const c1 = l[ri + k + 1];
      const c2 = l[ri + k + 2];
      const c3 = l[ri + k + 3];
      const d0 = l[rn + k];
      const d1 = l[rn + k + 1];
      const d2 = l[rn + k + 2];
      const d3 = l[rn + k + 3];
      const k0 = k * n;
      const k1 = k0 + n;
      const k2 = k1 + n;
      const k3 = k2 + n;
      for (let j = 0; j <= k; j++) {
        const a0 = x[k0 + j];
        const a1 = x[k1 + j];
        const a2 = x[k2 + j];
        const a3 = x[k3 + j];
        x[ri + j] -= c0 * a0 + c1 * a1 + c2 * a2 + c3 * a3;
        x[rn + j] -= d0 * a0 + d1 * a1 + d2 * a2 + d3 * a3;
      }
      // Rows k + 1..k + 3 reach one to three columns past row k (X's upper triangle reads as 0).
      for (let j = k + 1; j <= k + 3; j++) {
        const a1 = x[k1 + j];
        const a2 = x[k2 + j];
        const a3 = x[k3 + j];
        x[ri + j] -= c1 * a1 + c2 * a2 + c3 * a3;
        x[rn + j] -= d1 * a1 + d2 * a2 + d3 * a3;
      }
    }
    for (; k < i; k++) {
      const c = l[ri + k];
      const d = l[rn + k];
      const rk = k * n;
      for (let j = 0; j <= k; j++) {
        x[ri + j] -= c * x[rk + j];
        x[rn + j] -= d * x[rk + j];
      }
    }
    const inv = 1 / l[ri + i];
    for (let j = 0; j <= i; j++) x[ri + j] *= inv;
    // Row i + 1 also depends on row i, which is only now complete.
    const c = l[rn + i];
    for (let j = 0; j <= i; j++) x[rn + j] -= c * x[ri + j];
    const inv1 = 1 / l[rn + i + 1];
    for (let j = 0; j <= i + 1; j++) x[rn + j] *= inv1;
  }
  if (i < n) {
    const ri = i * n;
    x[ri + i] = 1;
    for (let k = 0; k < i; k++) {
      const c = l[ri + k];
      const rk = k * n;
      for (let j = 0; j <= k; j++) x[ri + j] -= c * x[rk + j];
    }
    const inv = 1 / l[ri + i];
    for (let j = 0; j <= i; j++) x[ri + j] *= inv;
  }
  return x;
}

/** J·a·J (J the exchange matrix): reverses rows and columns, turning lower triangles into upper ones. */
function reversed(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) out[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)];
  }
  return out;
}

/**
 * The upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), which GPTQ's column sweep reads. Instead of forming
 * H⁻¹ and factoring again (torch: cholesky, cholesky_inverse, cholesky upper), factor the reversed
 * matrix: J·H·J = L·Lᵀ gives H⁻¹ = (J·L⁻ᵀ·J)(J·L⁻¹·J), and J·L⁻¹·J is upper triangular with a positive
 * diagonal, so by uniqueness it is U. Two n³/6 passes instead of three, and no second factorization to fail.
 */
export function upperCholeskyOfInverse(h: Float64Array, n: number): Float64Array {
  checkSquare(h, n);
  const r = reversed(h, n);
  try {
    choleskyInPlace(r, n);
  } catch (e) {
    // Report the column of H, not of its reversal.
    if (e instanceof NotPositiveDefiniteError) throw new NotPositiveDefiniteError(n - 1 - e.column, e.pivot);
    throw e;
  }
  return reversed(invertLower(r, n), n);
}
