/**
 * Matérn-5/2 kernel with automatic relevance determination (one length scale per dimension). Matérn
 * 5/2 rather than the squared exponential because loss surfaces are not infinitely smooth and the
 * RBF's over-confident extrapolation misleads expected improvement (Snoek et al., 2012).
 */
const SQRT5 = Math.sqrt(5);

/** Correlation at scaled distance r (k(0) = 1). */
export function matern52(r: number): number {
  const s = SQRT5 * r;
  return (1 + s + (s * s) / 3) * Math.exp(-s);
}

/** Squared scaled distance Σ ((a_j − b_j)/ℓ_j)². */
export function scaledSqDist(a: ArrayLike<number>, b: ArrayLike<number>, invLs2: ArrayLike<number>): number {
  let r2 = 0;
  for (let j = 0; j < invLs2.length; j++) {
    const t = a[j] - b[j];
    r2 += t * t * invLs2[j];
  }
  return r2;
}
