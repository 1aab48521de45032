/**
 * Candidate points for maximising the acquisition: uniform random points cover the cube (exploration)
 * and Gaussian perturbations of the best few trials at several scales refine near the incumbent, where
 * EI's maximum usually lies but which uniform sampling in 4-D hits too rarely.
 */
import type { Prng } from './prng.js';

/** Perturbation scales in unit-cube units, cycled over each anchor's candidates. */
const LOCAL_SCALES = [0.01, 0.03, 0.1, 0.3];

export function makeCandidates(rng: Prng, d: number, uniform: number, anchors: number[][], perAnchor: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < uniform; i++) out.push(Array.from({ length: d }, () => rng.next()));
  for (const a of anchors)
    for (let i = 0; i < perAnchor; i++) {
      const s = LOCAL_SCALES[i % LOCAL_SCALES.length];
      out.push(a.map((v) => Math.min(1, Math.max(0, v + s * rng.normal()))));
    }
  return out;
}

/** Euclidean distance from p to the nearest of pts. */
export function nearestDistance(p: number[], pts: number[][]): number {
  let best = Infinity;
  for (const q of pts) {
    let s = 0;
    for (let j = 0; j < p.length; j++) {
      const t = p[j] - q[j];
      s += t * t;
    }
    if (s < best) best = s;
  }
  return Math.sqrt(best);
}
