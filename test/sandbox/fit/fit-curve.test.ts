/** fitCurve on a form of the caller's own: no conditioning, unbounded parameters, JSON summary. */
import { describe, expect, it } from 'vitest';
import { fitCurve, fitSummary, type CurveForm } from '../../../src/sandbox/fit/index.js';
import { sample } from './synth.js';

/** A log-parabola, as the LR study fits loss against ln(lr) to find the optimum. */
const logParabola: CurveForm<number> = {
  name: 'log-parabola',
  formula: 'L(lr) = c·(ln lr − m)² + L*',
  params: ['c', 'm', 'Lstar'],
  predict: (p, lr) => p.c * (Math.log(lr) - p.m) ** 2 + p.Lstar,
  bounds: { c: [0, Infinity] },
  starts: (xs, ys) => [{ c: 0.1, m: Math.log(xs[ys.indexOf(Math.min(...ys))]), Lstar: Math.min(...ys) }],
};

describe('fitCurve with a custom form', () => {
  const lrs = [0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04];
  const truth = { c: 0.05, m: Math.log(0.01), Lstar: 3.2 };

  it('recovers the optimum and reports a JSON-friendly summary', () => {
    const fit = fitCurve(logParabola, lrs, sample(logParabola, truth, lrs, 0.002, 9), { bootstrap: 50 });
    expect(Math.exp(fit.params.m)).toBeGreaterThan(0.007);
    expect(Math.exp(fit.params.m)).toBeLessThan(0.014);
    const json = JSON.parse(JSON.stringify(fitSummary(fit))) as Record<string, unknown>;
    expect(json.form).toBe('log-parabola');
    expect(Object.keys(json.ci as object)).toEqual(['c', 'm', 'Lstar']);
    expect(json.bootstrapOk).toBeGreaterThan(40);
  });

  it('honours explicit undefined options as defaults and warm starts from opts.initial', () => {
    const ys = sample(logParabola, truth, lrs);
    const fit = fitCurve(logParabola, lrs, ys, { starts: undefined, bootstrap: 0, initial: [truth] });
    expect(fit.params.c).toBeCloseTo(0.05, 8);
    expect(fit.rmse).toBeLessThan(1e-9);
  });
});
