import { describe, expect, it } from 'vitest';
import {
  QuantShapeError,
  dequantize,
  dequantizeValue,
  groupParams,
  makeQuantizer,
  matrix,
  quantizeValue,
  roundHalfEven,
  rtnQuantize,
} from '../../src/quant/index.js';
import { Rng } from '../../src/tensor/index.js';
import { maxAbsDiff, randomMatrix } from './helpers.js';

const int4 = makeQuantizer();

/** Codes and dequantized values of one group quantized with its own parameters. */
function quantizeGroup(values: number[], opts = {}) {
  const quant = makeQuantizer(opts);
  const p = groupParams(quant, values);
  const q = values.map((v) => quantizeValue(quant, v, p));
  return { ...p, q, deq: q.map((v) => dequantizeValue(v, p)) };
}

describe('roundHalfEven', () => {
  it('rounds halves to the even neighbour like torch.round, everything else to nearest', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.5, 6.5].map(roundHalfEven)).toEqual([
      0, 2, 2, -0, -2, -2, 8, 6,
    ]);
    expect([0.49, 0.51, -0.51, 2.4999, 3.2].map(roundHalfEven)).toEqual([0, 1, -1, 2, 3]);
  });
});

describe('min–max int4 group quantizer (SPEC §9)', () => {
  it('mixed signs: scale = (max − min)/15, zero = round(−min/scale)', () => {
    // min −1.5, max 2.25: scale 3.75/15 = 0.25, zero round(6) = 6
    const g = quantizeGroup([-1.5, 0.5, 2.25, -0.375, 0.3]);
    expect(g.scale).toBe(0.25);
    expect(g.zero).toBe(6);
    // −6+6, 2+6, 9+6, round(−1.5)=−2 → 4, round(1.2)=1 → 7
    expect(g.q).toEqual([0, 8, 15, 4, 7]);
    expect(g.deq).toEqual([-1.5, 0.5, 2.25, -0.5, 0.25]);
  });

  it('all-positive group: the range is stretched down to 0, so zero = 0', () => {
    const g = quantizeGroup([0.5, 3.75, 1.125, 2]);
    expect(g).toMatchObject({ scale: 0.25, zero: 0 });
    expect(g.q).toEqual([2, 15, 4, 8]); // 1.125/0.25 = 4.5 rounds to even 4
    expect(g.deq).toEqual([0.5, 3.75, 1, 2]);
  });

  it('all-negative group: the range is stretched up to 0, so zero = 15', () => {
    const g = quantizeGroup([-3.75, -1, -0.125]);
    expect(g).toMatchObject({ scale: 0.25, zero: 15 });
    expect(g.q).toEqual([0, 11, 15]);
    expect(g.deq).toEqual([-3.75, -1, 0]);
  });

  it('a group containing 0 represents it exactly', () => {
    const g = quantizeGroup([-0.75, 0, 3]);
    expect(g).toMatchObject({ scale: 0.25, zero: 3 });
    expect(g.q[1]).toBe(3);
    expect(g.deq[1]).toBe(0);
  });

  it('all-zero group (scale would be 0) is widened to [−1, 1] as AutoGPTQ does: every code is the zero point', () => {
    const g = quantizeGroup([0, 0, 0, 0]);
    expect(g.scale).toBeCloseTo(2 / 15, 15);
    expect(g.zero).toBe(8); // round(7.5) to even
    expect(g.q).toEqual([8, 8, 8, 8]);
    expect(g.deq).toEqual([0, 0, 0, 0]);
  });

  it('constant non-zero group: range [0, c], reproduced exactly at the top code', () => {
    const g = quantizeGroup([0.75, 0.75, 0.75]);
    expect(g).toMatchObject({ scale: 0.05, zero: 0 });
    expect(g.q).toEqual([15, 15, 15]);
    expect(g.deq[0]).toBeCloseTo(0.75, 15);
  });

  it('the zero point rounds half to even (min −6.5, max 8.5: zero 6, not 7)', () => {
    expect(quantizeGroup([-6.5, 8.5])).toMatchObject({ scale: 1, zero: 6 });
  });

  it('clamps values outside the group range to codes 0 and 15', () => {
    const p = { scale: 0.25, zero: 6 };
    expect(quantizeValue(int4, 100, p)).toBe(15);
    expect(quantizeValue(int4, -100, p)).toBe(0);
  });

  it('symmetric mode: zero 8 and a range mirrored around 0', () => {
    const g = quantizeGroup([-2, 1, 0.5], { sym: true });
    expect(g.scale).toBeCloseTo(4 / 15, 15);
    expect(g.zero).toBe(8);
    expect(g.q).toEqual([0, 12, 10]); // round(−7.5) = −8; round(3.75) = 4; round(1.875) = 2
  });

  it('symmetric mode keeps AutoGPTQ’s all-non-negative quirk: scale max/15 around zero 8 clips the top', () => {
    const g = quantizeGroup([1.5, 3], { sym: true });
    expect(g).toMatchObject({ scale: 0.2, zero: 8 });
    expect(g.q).toEqual([15, 15]);
    expect(g.deq[1]).toBeCloseTo(1.4, 12);
  });

  it('storableZeros turns a zero point of 0 into 1 with scale max/14, still covering the group', () => {
    const g = quantizeGroup([0.5, 3.5, 1.75], { storableZeros: true });
    expect(g).toMatchObject({ scale: 0.25, zero: 1 });
    expect(g.deq).toEqual([0.5, 3.5, 1.75]);
    // Groups whose zero is already ≥ 1 are untouched.
    expect(quantizeGroup([-1.5, 2.25], { storableZeros: true })).toMatchObject({ scale: 0.25, zero: 6 });
  });

  it('other bit widths use maxq = 2^bits − 1', () => {
    expect(quantizeGroup([-1, 2], { bits: 2 })).toMatchObject({ scale: 1, zero: 1 });
    expect(quantizeGroup([-1, 2], { bits: 8 }).q).toEqual([0, 255]);
  });

  it('rejects impossible settings and inputs with typed errors', () => {
    expect(() => makeQuantizer({ bits: 1 })).toThrow(QuantShapeError);
    expect(() => makeQuantizer({ bits: 4.5 })).toThrow(QuantShapeError);
    expect(() => groupParams(int4, [1, NaN])).toThrow(QuantShapeError);
    expect(() => groupParams(int4, [])).toThrow(QuantShapeError);
  });
});

describe('RTN', () => {
  it('quantizes each group of each row on its own, with g_idx = column / groupSize', () => {
    const w = randomMatrix(new Rng(1), 3, 10); // groups of 4: 4, 4 and a ragged 2
    const r = rtnQuantize(w, { groupSize: 4 });
    expect(Array.from(r.gIdx)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    expect(r.scales.length).toBe(3 * 3);
    for (let row = 0; row < 3; row++) {
      for (let k = 0; k < 3; k++) {
        const from = k * 4;
        const to = Math.min(from + 4, 10);
        const values = Array.from(w.data.subarray(row * 10 + from, row * 10 + to));
        const g = quantizeGroup(values);
        expect(r.scales[k * 3 + row]).toBe(g.scale);
        expect(r.zeros[k * 3 + row]).toBe(g.zero);
        expect(Array.from(r.q.subarray(row * 10 + from, row * 10 + to))).toEqual(g.q);
      }
    }
    expect(maxAbsDiff(dequantize(r), r.weight)).toBe(0);
  });

  it('groupSize −1 is one group per row; error is at most half a step', () => {
    const w = randomMatrix(new Rng(2), 4, 16);
    const r = rtnQuantize(w, { groupSize: -1 });
    expect(r.groupSize).toBe(16);
    expect(r.scales.length).toBe(4);
    for (let i = 0; i < w.data.length; i++) {
      expect(Math.abs(w.data[i] - r.weight[i])).toBeLessThanOrEqual(r.scales[Math.floor(i / 16)] / 2 + 1e-12);
    }
  });

  it('rejects empty or non-finite weights and bad group sizes', () => {
    expect(() => rtnQuantize(matrix(new Float64Array([1, Infinity]), 1, 2))).toThrow(QuantShapeError);
    expect(() => rtnQuantize(matrix(new Float64Array(0), 0, 0))).toThrow(QuantShapeError);
    expect(() => rtnQuantize(matrix(new Float64Array(4), 2, 2), { groupSize: 0 })).toThrow(QuantShapeError);
  });
});
