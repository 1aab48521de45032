/**
 * Seeded Latin hypercube in [0, 1]^d: each dimension is cut into n strata and every stratum holds
 * exactly one point, so even 8 initial runs cover each hyper-parameter's whole range.
 */
import { Prng } from './prng.js';

export function latinHypercube(n: number, d: number, seed: number): number[][] {
  const rng = new Prng(seed);
  const perms = Array.from({ length: d }, () => rng.permutation(n));
  return Array.from({ length: n }, (_, i) => perms.map((p) => (p[i] + rng.next()) / n));
}
