/** The compute laws of SPEC §4.4: power and exponential fits recover their parameters and tell each other apart. */
import { describe, expect, it } from 'vitest';
import { compareFits, exponentialForm, fitCurve, powerLawForm } from '../../../src/sandbox/fit/index.js';
import { covers, logSpace, relErr, sample } from './synth.js';

const C = logSpace(11, 16, 20); // FLOPs, as in the sandbox envelopes
const POWER = { beta: 2e3, alpha: 0.3, L0: 2.5 };
const CE = Array.from({ length: 20 }, (_, i) => 2e17 + i * 5e16);
const EXPO = { alpha: 1.2, beta: 3e-18, L0: 3.0 };

describe('powerLawForm', () => {
  it('recovers exact parameters in original units despite C spanning 1e11..1e16', () => {
    const fit = fitCurve(powerLawForm, C, sample(powerLawForm, POWER, C), { bootstrap: 20 });
    for (const p of powerLawForm.params)
      expect(relErr(fit.params[p], POWER[p as keyof typeof POWER])).toBeLessThan(1e-6);
    expect(fit.rmse).toBeLessThan(1e-9);
    expect(fit.predict(1e20)).toBeCloseTo(powerLawForm.predict(POWER, 1e20), 8);
  });

  it('with noise and one outlier, Huber stays on the truth where least squares is dragged off', () => {
    const ys = sample(powerLawForm, POWER, C, 0.01, 1);
    ys[5] += 0.3; // one diverged-looking run
    const robust = fitCurve(powerLawForm, C, ys, { seed: 1 });
    const plain = fitCurve(powerLawForm, C, ys, { huberDelta: Infinity, bootstrap: 0 });
    // δ adapts to the noise (σ = 0.01), not a fixed 1e-3 or the outlier's 0.3.
    expect(robust.huberDelta).toBeGreaterThan(0.004);
    expect(robust.huberDelta).toBeLessThan(0.04);
    expect(Math.abs(robust.params.alpha - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(robust.params.L0 - 2.5)).toBeLessThan(0.02);
    for (const p of ['alpha', 'L0'] as const)
      expect(Math.abs(robust.params[p] - POWER[p])).toBeLessThan(Math.abs(plain.params[p] - POWER[p]) / 2);
    for (const p of powerLawForm.params)
      expect(covers(robust.ci[p], POWER[p as keyof typeof POWER])).toBe(true);
    expect(robust.bootstrapOk).toBe(200);
  });

  it('95% intervals cover the truth in most of 12 noisy data sets', () => {
    const hits = { beta: 0, alpha: 0, L0: 0 };
    for (let s = 0; s < 12; s++) {
      const fit = fitCurve(powerLawForm, C, sample(powerLawForm, POWER, C, 0.01, 100 + s), {
        seed: s,
        bootstrap: 80,
      });
      for (const p of Object.keys(hits) as (keyof typeof hits)[]) if (covers(fit.ci[p], POWER[p])) hits[p]++;
    }
    for (const h of Object.values(hits)) expect(h).toBeGreaterThanOrEqual(9);
  });

  it('respects bounds: data whose free optimum has L0 < 0 gets L0 = 0 exactly', () => {
    const ys = sample(powerLawForm, { beta: 20, alpha: 0.1, L0: -0.3 }, C);
    const fit = fitCurve(powerLawForm, C, ys, { bootstrap: 0 });
    expect(fit.params.L0).toBe(0);
    expect(fit.params.alpha).toBeGreaterThan(0);
  });

  it('is deterministic given the seed', () => {
    const ys = sample(powerLawForm, POWER, C, 0.01, 2);
    const a = fitCurve(powerLawForm, C, ys, { seed: 7, bootstrap: 30 });
    const b = fitCurve(powerLawForm, C, ys, { seed: 7, bootstrap: 30 });
    const c = fitCurve(powerLawForm, C, ys, { seed: 8, bootstrap: 30 });
    expect(b.params).toEqual(a.params);
    expect(b.ci).toEqual(a.ci);
    expect(c.ci.alpha).not.toEqual(a.ci.alpha);
  });
});

describe('exponentialForm', () => {
  it('recovers exact parameters (rate ~1e-18 per FLOP)', () => {
    const fit = fitCurve(exponentialForm, CE, sample(exponentialForm, EXPO, CE), { bootstrap: 0 });
    for (const p of exponentialForm.params)
      expect(relErr(fit.params[p], EXPO[p as keyof typeof EXPO])).toBeLessThan(1e-6);
  });

  it('with noise and one outlier, Huber recovers the parameters within their intervals', () => {
    const ys = sample(exponentialForm, EXPO, CE, 0.005, 3);
    ys[12] -= 0.15;
    const fit = fitCurve(exponentialForm, CE, ys, { seed: 3 });
    const plain = fitCurve(exponentialForm, CE, ys, { huberDelta: Infinity, bootstrap: 0 });
    for (const p of exponentialForm.params) {
      const want = EXPO[p as keyof typeof EXPO];
      expect(covers(fit.ci[p], want)).toBe(true);
      expect(relErr(fit.params[p], want)).toBeLessThan(0.1);
      expect(relErr(fit.params[p], want)).toBeLessThan(relErr(plain.params[p], want));
    }
  });
});

describe('compareFits', () => {
  it('picks the power law on power-law data and the exponential on exponential data', () => {
    const yp = sample(powerLawForm, POWER, C, 0.01, 4);
    const pow = fitCurve(powerLawForm, C, yp, { bootstrap: 0 });
    const exp = fitCurve(exponentialForm, C, yp, { bootstrap: 0 });
    for (const [a, b] of [
      [exp, pow],
      [pow, exp],
    ]) {
      const cmp = compareFits(a, b);
      expect(cmp.better).toBe('power');
      expect(cmp.reason).toMatch(
        /^power fits better than exponential: leave-one-out RMSE .* \(AIC .*in-sample RMSE/,
      );
    }
    expect(pow.looRmse).toBeLessThan(exp.looRmse);
    expect(pow.looErrors).toHaveLength(C.length);

    const ye = sample(exponentialForm, EXPO, CE, 0.005, 5);
    const onExp = compareFits(
      fitCurve(powerLawForm, CE, ye, { bootstrap: 0 }),
      fitCurve(exponentialForm, CE, ye, { bootstrap: 0 }),
    );
    expect(onExp.better).toBe('exponential');
    expect(onExp.which).toBe('b');
    expect(onExp.reason).toMatch(/^exponential fits better than power/);
  });

  it('leave-one-out RMSE is near the noise level for the right form, far above it for the wrong one', () => {
    const yp = sample(powerLawForm, POWER, C, 0.01, 6);
    const pow = fitCurve(powerLawForm, C, yp, { bootstrap: 0 });
    const exp = fitCurve(exponentialForm, C, yp, { bootstrap: 0 });
    expect(pow.looRmse).toBeGreaterThan(pow.rmse); // held-out error exceeds in-sample error
    expect(pow.looRmse).toBeLessThan(0.02);
    expect(exp.looRmse).toBeGreaterThan(2 * pow.looRmse);
  });
});
