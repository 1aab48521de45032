/** The batch-size law of SPEC §4.1, bs_opt = 1.21e9 / L^6.24, as a line in log–log space. */
import { describe, expect, it } from 'vitest';
import { FitError, logLogLine, Prng } from '../../../src/sandbox/fit/index.js';
import { covers, relErr } from './synth.js';

const L = [2.4, 2.6, 2.8, 3.0, 3.3, 3.6, 4.0, 4.5];
const bsOpt = (l: number) => 1.21e9 / l ** 6.24;

describe('logLogLine', () => {
  it('recovers a = 1.21e9, b = 6.24 from points on the line', () => {
    const fit = logLogLine(L, L.map(bsOpt));
    expect(relErr(fit.a, 1.21e9)).toBeLessThan(1e-9);
    expect(fit.b).toBeCloseTo(6.24, 9);
    expect(fit.r2).toBeCloseTo(1, 12);
    // At L ≈ 2.5 the law gives ≈ 4M tokens per step (the 2B run used 3.93M).
    expect(fit.predict(2.5) / 1e6).toBeCloseTo(3.98, 2);
  });

  it('gives bootstrap intervals that cover the truth under 5% multiplicative noise', () => {
    const rng = new Prng(3);
    const ys = L.map((l) => bsOpt(l) * Math.exp(0.05 * rng.normal()));
    const fit = logLogLine(L, ys, { seed: 3 });
    expect(covers(fit.ci.b, 6.24)).toBe(true);
    expect(covers(fit.ci.a, 1.21e9)).toBe(true);
    expect(fit.ci.b[1] - fit.ci.b[0]).toBeLessThan(1.5);
    expect(fit.bootstrapOk).toBeGreaterThan(190);
  });

  it('rejects inputs that have no logarithm or no slope', () => {
    expect(() => logLogLine([1, 2], [1, 2])).toThrow(FitError);
    expect(() => logLogLine([1, 2, 0], [1, 2, 3])).toThrow(/x\[2\] = 0 must be finite and > 0/);
    expect(() => logLogLine([1, 2, 3], [1, -2, 3])).toThrow(/y\[1\]/);
    expect(() => logLogLine([2, 2, 2], [1, 2, 3])).toThrow(/all x are equal/);
  });
});
