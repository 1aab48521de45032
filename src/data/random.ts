/**
 * Seeded, platform-independent randomness for the data layer. Everything the loader draws is a pure
 * function of (seed, counter), so a saved cursor reproduces the exact next batch after a restart.
 */

/** A 32-bit finalizer (the "lowbias32" mix): every input bit flips about half of the output bits. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Hash a list of integers (any JS safe integer: the high word is folded in) to 32 bits. */
export function hashInts(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    const lo = x >>> 0;
    const hi = Math.floor(x / 0x100000000) >>> 0;
    h = mix32(h ^ lo);
    h = mix32(h ^ hi ^ 0x9e3779b9);
  }
  return h;
}

/** FNV-1a over UTF-16 code units, then mixed: for names and keys, not for security. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** A uniform float in [0, 1) that depends only on (seed, index): stateless sampling. */
export function uniformAt(seed: number, index: number): number {
  return hashInts(seed, index) / 0x100000000;
}

/** A small sequential generator (splitmix32): for shuffles and synthetic data. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = hashInts(seed);
  }

  /** Next uint32. */
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    return mix32(this.s);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x100000000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
