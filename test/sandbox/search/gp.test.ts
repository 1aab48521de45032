/** The GP agrees with the textbook closed form and interpolates noise-free data. */
import { describe, expect, it } from 'vitest';
import { fitHyper, GaussianProcess } from '../../../src/sandbox/search/index.js';

/** Matérn 5/2 written out independently of the implementation. */
const matern = (a: number, b: number, l: number, s2: number) => {
  const r = Math.abs(a - b) / l;
  return s2 * (1 + Math.sqrt(5) * r + (5 * r * r) / 3) * Math.exp(-Math.sqrt(5) * r);
};

/** Explicit 3×3 inverse by cofactors, so the reference shares no code with the Cholesky path. */
function inv3(m: number[][]): { inv: number[][]; det: number } {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  const inv = [
    [A, -(b * i - c * h), b * f - c * e],
    [B, a * i - c * g, -(a * f - c * d)],
    [C, -(a * h - b * g), a * e - b * d],
  ].map((row) => row.map((v) => v / det));
  return { inv, det };
}

const mv = (m: number[][], v: number[]) => m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

describe('GaussianProcess', () => {
  const X = [0, 0.4, 1];
  const Y = [1, -0.5, 0.3];
  const hyper = { lengthScales: [0.5], signalVar: 1.3, noiseVar: 0.01 };
  const gp = new GaussianProcess(X.map((x) => [x]), Y, hyper);
  const K = X.map((a, i) => X.map((b, j) => matern(a, b, 0.5, 1.3) + (i === j ? 0.01 : 0)));
  const { inv, det } = inv3(K);

  it('posterior mean and variance equal k*ᵀK⁻¹y and k** − k*ᵀK⁻¹k* on a 3-point 1-D example', () => {
    for (const xs of [-0.3, 0.1, 0.4, 0.77, 1.5]) {
      const ks = X.map((x) => matern(xs, x, 0.5, 1.3));
      const p = gp.predict([xs]);
      expect(p.mean).toBeCloseTo(dot(ks, mv(inv, Y)), 10);
      expect(p.variance).toBeCloseTo(1.3 - dot(ks, mv(inv, ks)), 10);
    }
  });

  it('log marginal likelihood equals −½yᵀK⁻¹y − ½log|K| − (n/2)log 2π', () => {
    const ref = -0.5 * dot(Y, mv(inv, Y)) - 0.5 * Math.log(det) - 1.5 * Math.log(2 * Math.PI);
    expect(gp.logMarginalLikelihood).toBeCloseTo(ref, 10);
  });

  it('interpolates noise-free data, with (near-)zero variance at the data', () => {
    const xs = [[0.1, 0.2], [0.5, 0.9], [0.8, 0.3], [0.3, 0.6], [0.95, 0.95]];
    const ys = xs.map(([a, b]) => Math.sin(5 * a) + b * b);
    const g = new GaussianProcess(xs, ys, { lengthScales: [0.4, 0.6], signalVar: 1, noiseVar: 0 });
    xs.forEach((x, i) => {
      const p = g.predict(x);
      expect(p.mean).toBeCloseTo(ys[i], 6);
      expect(p.variance).toBeLessThan(1e-8);
    });
    expect(g.predict([0.6, 0.6]).variance).toBeGreaterThan(1e-3);
  });

  it('survives duplicate points (jitter) and fitHyper beats a poor fixed choice on likelihood', () => {
    const xs = [[0.2], [0.2], [0.5], [0.9]];
    const g = new GaussianProcess(xs, [1, 1, 0, 2], { lengthScales: [0.3], signalVar: 1, noiseVar: 0 });
    expect(g.jitter).toBeGreaterThan(0);
    expect(Number.isFinite(g.predict([0.3]).mean)).toBe(true);

    const x1 = Array.from({ length: 15 }, (_, i) => [i / 14]);
    const y1 = x1.map(([x]) => Math.sin(6 * x));
    const fit = fitHyper(x1, y1, { seed: 1 });
    const poor = new GaussianProcess(x1, y1, { lengthScales: [0.02], signalVar: 1, noiseVar: 0.5 });
    const tuned = new GaussianProcess(x1, y1, fit);
    expect(tuned.logMarginalLikelihood).toBeCloseTo(fit.logMarginalLikelihood, 6);
    expect(fit.logMarginalLikelihood).toBeGreaterThan(poor.logMarginalLikelihood);
    expect(tuned.predict([0.5 / 14]).mean).toBeCloseTo(Math.sin(6 * (0.5 / 14)), 2);
  });
});
