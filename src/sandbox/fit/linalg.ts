/** The little dense linear algebra the fitter needs (systems of at most a handful of unknowns). */

/** Solves A·x = b by Gaussian elimination with partial pivoting; null when A is singular. */
export function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    if (!(Math.abs(m[piv][c]) > 0)) return null;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x.every(Number.isFinite) ? x : null;
}

/**
 * Least squares y ≈ Σ_j coef_j·cols[j] via the normal equations, with columns scaled to unit norm
 * first so that columns of very different magnitude stay well conditioned.
 */
export function leastSquares(cols: number[][], y: number[]): number[] | null {
  const norms = cols.map((c) => Math.hypot(...c) || 1);
  const s = cols.map((c, j) => c.map((v) => v / norms[j]));
  const A = s.map((ci) => s.map((cj) => dot(ci, cj)));
  const b = s.map((ci) => dot(ci, y));
  const x = solve(A, b);
  return x && x.map((v, j) => v / norms[j]);
}

/**
 * Non-negative least squares for a few columns: tries every subset of free columns (2^k, fine for
 * k ≤ 4) and keeps the best feasible one, which is exact where an active-set method needs care.
 * `nonneg[j]` false leaves coefficient j unconstrained.
 */
export function nnlsSmall(cols: number[][], y: number[], nonneg: boolean[]): number[] | null {
  const k = cols.length;
  let best: number[] | null = null;
  let bestRss = Infinity;
  for (let mask = 0; mask < 1 << k; mask++) {
    // A constrained coefficient may be pinned at 0; unconstrained ones are always free.
    if (cols.some((_, j) => !nonneg[j] && !(mask & (1 << j)))) continue;
    const idx = cols.map((_, j) => j).filter((j) => mask & (1 << j));
    const sub = idx.length
      ? leastSquares(
          idx.map((j) => cols[j]),
          y,
        )
      : [];
    if (!sub || idx.some((j, t) => nonneg[j] && sub[t] < 0)) continue;
    const coef = new Array<number>(k).fill(0);
    idx.forEach((j, t) => (coef[j] = sub[t]));
    const rss = y.reduce(
      (acc, yi, i) => acc + (yi - cols.reduce((s, c, j) => s + coef[j] * c[i], 0)) ** 2,
      0,
    );
    if (rss < bestRss) [best, bestRss] = [coef, rss];
  }
  return best;
}

export function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
