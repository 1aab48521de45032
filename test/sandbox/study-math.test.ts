import { describe, expect, it } from 'vitest';
import { tokensToReach } from '../../src/sandbox/studies/batch-size.js';
import { cosine, decayFrom, logParabolaMin, wsd } from '../../src/sandbox/studies/common.js';
import { lrAt } from '../../src/train/schedules.js';

describe('logParabolaMin', () => {
  it('finds the vertex of a parabola in log2(x) exactly', () => {
    const xs = [0.001, 0.002, 0.004, 0.008, 0.016];
    const u0 = Math.log2(0.005);
    const ys = xs.map((x) => 3 + 0.2 * (Math.log2(x) - u0) ** 2);
    const m = logParabolaMin(xs, ys);
    expect(m.x).toBeCloseTo(0.005, 10);
    expect(m.y).toBeCloseTo(3, 10);
    expect(m.edge).toBe(false);
  });

  it('flags an optimum at the edge of the grid and skips non-finite values', () => {
    expect(logParabolaMin([1, 2, 4], [1, 2, 3])).toEqual({ x: 1, y: 1, edge: true });
    expect(logParabolaMin([1, 2, 4, 8], [Infinity, 2, 1, 3]).edge).toBe(false);
    expect(logParabolaMin([1, 2], [NaN, NaN]).edge).toBe(true);
  });
});

describe('tokensToReach', () => {
  const curve = [
    { tokens: 100, loss: 5 },
    { tokens: 200, loss: 4 },
    { tokens: 400, loss: 3 },
    { tokens: 800, loss: 3.2 },
  ];
  it('interpolates the crossing in log tokens', () => {
    expect(tokensToReach(curve, 4)).toBeCloseTo(200, 9);
    expect(tokensToReach(curve, 3.5)).toBeCloseTo(Math.sqrt(200 * 400), 6);
    expect(tokensToReach(curve, 2.9)).toBe(Infinity);
    expect(tokensToReach(curve, 6)).toBe(100);
  });
});

describe('study schedules', () => {
  it('WSD decays over the last fraction, a branch decays from its start, cosine ends at 0.1·lr', () => {
    const s = wsd(0.01, 100, 0.1);
    expect(lrAt(s, 89)).toBe(0.01);
    expect(lrAt(s, 99)).toBeLessThan(0.01 * 0.5 ** 4);
    const b = decayFrom(0.01, 5, 50, 10);
    expect(lrAt(b, 49)).toBe(0.01);
    expect(lrAt(b, 52)).toBeCloseTo(0.01 * 0.5 ** (2 / 2), 12);
    expect(lrAt(cosine(0.01, 100), 100)).toBeCloseTo(0.001, 12);
  });
});
