/** The data–model law and its compute-optimal split (SPEC §4.5). */
import { describe, expect, it } from 'vitest';
import {
  chinchillaOptimum,
  dataModelForm,
  fitCurve,
  type ModelData,
} from '../../../src/sandbox/fit/index.js';
import { covers, relErr, sample } from './synth.js';

const TRUTH = { CN: 400, alpha: 0.34, CD: 410, beta: 0.28, L0: 1.7 };
const GRID: ModelData[] = [1e4, 1e5, 1e6, 1e7, 1e8, 1e9].flatMap((N) =>
  [1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11].map((D) => ({ N, D })),
);

/** Golden-section minimum of a unimodal f on [lo, hi]: an oracle independent of the closed form. */
function goldenMin(f: (u: number) => number, lo: number, hi: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let [a, b] = [lo, hi];
  while (b - a > 1e-10) {
    const c = b - g * (b - a);
    const d = a + g * (b - a);
    if (f(c) < f(d)) b = d;
    else a = c;
  }
  return (a + b) / 2;
}

/** N_opt by minimising L(N, C/(6N)) over ln N (L0 dropped: constant, and it would cost precision). */
function numericNopt(p: typeof TRUTH, C: number): number {
  const f = (u: number) => p.CN * Math.exp(-p.alpha * u) + p.CD * (C / 6 / Math.exp(u)) ** -p.beta;
  return Math.exp(goldenMin(f, 0, Math.log(C / 6)));
}

describe('dataModelForm', () => {
  it('recovers exact parameters with N over 1e4..1e9 and D over 1e5..1e11', () => {
    const fit = fitCurve(dataModelForm, GRID, sample(dataModelForm, TRUTH, GRID), { bootstrap: 0 });
    for (const p of dataModelForm.params)
      expect(relErr(fit.params[p], TRUTH[p as keyof typeof TRUTH])).toBeLessThan(1e-6);
  });

  it('recovers noisy parameters within their bootstrap intervals', () => {
    const fit = fitCurve(dataModelForm, GRID, sample(dataModelForm, TRUTH, GRID, 0.01, 11), {
      seed: 11,
      bootstrap: 100,
    });
    for (const p of dataModelForm.params)
      expect(covers(fit.ci[p], TRUTH[p as keyof typeof TRUTH])).toBe(true);
    expect(Math.abs(fit.params.alpha - TRUTH.alpha)).toBeLessThan(0.03);
    expect(Math.abs(fit.params.beta - TRUTH.beta)).toBeLessThan(0.03);
    // Derived quantities get intervals from the same bootstrap samples.
    const opt = chinchillaOptimum(fit, 1e21);
    const exact = chinchillaOptimum({ params: TRUTH }, 1e21);
    expect(covers(opt.ci!.N, exact.N)).toBe(true);
  });
});

describe('chinchillaOptimum', () => {
  it('closed form equals a 1-D numeric minimisation along C = 6ND', () => {
    for (const C of [1e15, 1e18, 6.6e18, 1e21, 1e24]) {
      const o = chinchillaOptimum({ params: TRUTH }, C);
      expect(relErr(o.N, numericNopt(TRUTH, C))).toBeLessThan(1e-6);
      expect(relErr(6 * o.N * o.D, C)).toBeLessThan(1e-12);
      expect(relErr(o.ratio, o.K2 * (C / 6) ** o.eta)).toBeLessThan(1e-9);
      expect(o.tokensPerParam).toBeCloseTo(1 / o.ratio, 6);
      // No other split at the same compute has a lower loss.
      for (const s of [0.9, 1.1]) {
        const other = dataModelForm.predict(TRUTH, { N: o.N * s, D: o.D / s });
        expect(other).toBeGreaterThan(o.loss);
      }
    }
  });

  it("MiniCPM's α = 0.29, β = 0.23 with K² = 0.01", () => {
    const [alpha, beta] = [0.29, 0.23];
    // K = (α·C_N/(β·C_D))^(1/(α+β)) = 0.1  ⇔  C_N = (β/α)·C_D·0.1^(α+β).
    const CD = 100;
    const p = { CN: (beta / alpha) * CD * 0.1 ** (alpha + beta), alpha, CD, beta, L0: 1.5 };
    const C = 1e21;
    const o = chinchillaOptimum({ params: p }, C);
    expect(o.K2).toBeCloseTo(0.01, 12);
    // η = (β − α)/(α + β) = −0.06/0.52; the paper's −0.10 is an average over fits, not this formula's value.
    expect(o.eta).toBeCloseTo(-0.06 / 0.52, 12);
    expect(o.eta).toBeCloseTo(-0.11538, 5);
    expect(o.ratio).toBeCloseTo(0.01 * (C / 6) ** (-0.06 / 0.52), 12);
    expect(relErr(o.N, numericNopt(p, C))).toBeLessThan(1e-6);
    // Data-hungry compared with Chinchilla's ~20 tokens per parameter.
    expect(o.tokensPerParam).toBeGreaterThan(20);
  });

  it('refuses laws without an interior optimum', () => {
    expect(() => chinchillaOptimum({ params: { ...TRUTH, alpha: 0 } }, 1e21)).toThrow(/alpha = 0/);
    expect(() => chinchillaOptimum({ params: TRUTH }, -1)).toThrow(/must be finite and > 0/);
  });
});
