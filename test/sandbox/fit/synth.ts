/** Synthetic data for the fitting tests: points exactly on a known curve, optionally with seeded noise. */
import { Prng, type CurveForm, type Params } from '../../../src/sandbox/fit/index.js';

/** Log-spaced values from 10^lo to 10^hi. */
export function logSpace(lo: number, hi: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => 10 ** (lo + ((hi - lo) * i) / (count - 1)));
}

export function sample<X>(form: CurveForm<X>, truth: Params, xs: X[], noise = 0, seed = 0): number[] {
  const rng = new Prng(seed);
  return xs.map((x) => form.predict(truth, x) + noise * rng.normal());
}

/** |got − want| / |want|. */
export function relErr(got: number, want: number): number {
  return Math.abs(got - want) / Math.abs(want);
}

export function covers(ci: [number, number], v: number): boolean {
  return ci[0] <= v && v <= ci[1];
}
