/** Degenerate input fails early with a FitError that says what to do. */
import { describe, expect, it } from 'vitest';
import {
  compareFits,
  dataModelForm,
  exponentialForm,
  fitCurve,
  FitError,
  powerLawForm,
} from '../../../src/sandbox/fit/index.js';
import { logSpace, sample } from './synth.js';

const POWER = { beta: 2e3, alpha: 0.3, L0: 2.5 };
const C = logSpace(11, 16, 8);
const Y = sample(powerLawForm, POWER, C);

describe('FitError', () => {
  it('too few points for the number of parameters', () => {
    expect(() => fitCurve(powerLawForm, C.slice(0, 3), Y.slice(0, 3))).toThrow(FitError);
    expect(() => fitCurve(powerLawForm, C.slice(0, 3), Y.slice(0, 3))).toThrow(
      /too few for 3 parameters; need at least 4/,
    );
  });

  it('non-finite values name the offending point', () => {
    const ys = [...Y];
    ys[2] = NaN;
    expect(() => fitCurve(powerLawForm, C, ys)).toThrow(/y\[2\] = NaN is not finite/);
    const xs = [...C];
    xs[4] = Infinity;
    expect(() => fitCurve(powerLawForm, xs, Y)).toThrow(/x\[4\] = Infinity is not finite/);
  });

  it('all-equal x and too few distinct x', () => {
    expect(() =>
      fitCurve(
        powerLawForm,
        C.map(() => 1e12),
        Y,
      ),
    ).toThrow(/same x/);
    const two = C.map((c, i) => (i % 2 ? 1e12 : 1e13));
    expect(() => fitCurve(exponentialForm, two, Y)).toThrow(/only 2 distinct x values for 3 parameters/);
  });

  it("outside the form's domain", () => {
    const xs = [...C];
    xs[0] = -1;
    expect(() => fitCurve(powerLawForm, xs, Y)).toThrow(/x\[0\] = -1 must be > 0/);
    const oneN = [1e5, 1e6, 1e7, 1e8, 1e9, 1e10].map((D) => ({ N: 1e6, D }));
    expect(() => fitCurve(dataModelForm, oneN, [3, 2.9, 2.8, 2.7, 2.6, 2.5])).toThrow(/same N/);
  });

  it('mismatched lengths, bad δ, and comparing fits of different data', () => {
    expect(() => fitCurve(powerLawForm, C, Y.slice(1))).toThrow(/8 x values but 7 y values/);
    expect(() => fitCurve(powerLawForm, C, Y, { huberDelta: 0 })).toThrow(FitError);
    const a = fitCurve(powerLawForm, C, Y, { bootstrap: 0 });
    const b = fitCurve(
      exponentialForm,
      C,
      Y.map((y) => y + 0.01),
      { bootstrap: 0 },
    );
    expect(() => compareFits(a, b)).toThrow(/different data/);
  });
});
