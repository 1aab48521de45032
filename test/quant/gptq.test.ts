import { describe, expect, it } from 'vitest';
import {
  HessianAccumulator,
  NotPositiveDefiniteError,
  QuantShapeError,
  dequantize,
  factorHessian,
  gptqQuantize,
  gptqQuantizeReference,
  matrix,
  outputError,
  rtnQuantize,
  type GptqOptions,
  type GptqResult,
  type Matrix,
} from '../../src/quant/index.js';
import { Rng } from '../../src/tensor/index.js';
import { correlatedActivations, maxAbsDiff, randomMatrix } from './helpers.js';

function hessianOf(x: Matrix): Float64Array {
  const acc = new HessianAccumulator(x.cols);
  acc.add(x);
  return acc.hessian();
}

const asMatrix = (r: GptqResult | ReturnType<typeof rtnQuantize>): Matrix => matrix(r.weight, r.out, r.in);

describe('GPTQ', () => {
  it('with H = I there is no error to spread: GPTQ equals RTN, code for code', () => {
    const cols = 48;
    // X = √(n/2)·I over n = cols rows gives H = (2/n)·XᵀX = I.
    const x = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) x[i * cols + i] = Math.sqrt(cols / 2);
    const h = hessianOf(matrix(x, cols, cols));
    expect(h[0]).toBeCloseTo(1, 14);
    const w = randomMatrix(new Rng(7), 16, cols);
    const rtn = rtnQuantize(w, { groupSize: 16 });
    for (const opts of [{}, { actOrder: true }, { damp: 0.5 }, { blockSize: 7 }] as GptqOptions[]) {
      const g = gptqQuantize(w, h, { groupSize: 16, ...opts });
      expect(Array.from(g.q)).toEqual(Array.from(rtn.q));
      expect(Array.from(g.scales)).toEqual(Array.from(rtn.scales));
      expect(Array.from(g.zeros)).toEqual(Array.from(rtn.zeros));
      expect(Array.from(g.gIdx)).toEqual(Array.from(rtn.gIdx));
      expect(maxAbsDiff(g.weight, rtn.weight)).toBe(0);
    }
  });

  it('any diagonal H also reduces to RTN without act-order', () => {
    const w = randomMatrix(new Rng(8), 8, 24);
    const h = new Float64Array(24 * 24);
    for (let i = 0; i < 24; i++) h[i * 24 + i] = 0.1 + i;
    expect(Array.from(gptqQuantize(w, h, { groupSize: 8 }).q)).toEqual(
      Array.from(rtnQuantize(w, { groupSize: 8 }).q),
    );
  });

  describe('on correlated calibration data', () => {
    const rng = new Rng(11);
    const x = correlatedActivations(rng, 384, 128);
    const w = randomMatrix(rng, 64, 128, 0.05);
    const h = hessianOf(x);
    const rtnError = outputError(x, w, asMatrix(rtnQuantize(w, { groupSize: 32 })));

    it.each([
      ['in order', {}],
      ['with act-order', { actOrder: true }],
      ['with block-start group statistics', { groupStats: 'block-start', blockSize: 16 }],
      ['with act-order and small blocks', { actOrder: true, blockSize: 24 }],
      ['symmetric, against symmetric RTN', { sym: true, actOrder: true }],
    ] as [string, GptqOptions][])('its layer output error is well below RTN’s (%s)', (_, opts) => {
      const g = gptqQuantize(w, h, { groupSize: 32, ...opts });
      const base = opts.sym
        ? outputError(x, w, asMatrix(rtnQuantize(w, { groupSize: 32, sym: true })))
        : rtnError;
      const ratio = outputError(x, w, asMatrix(g)) / base;
      expect(ratio).toBeLessThan(0.7);
      expect(maxAbsDiff(dequantize(g), g.weight)).toBe(0);
    });
  });

  // Symmetric mode is left out: its extreme value sits exactly on a rounding tie (w/scale = −7.5), so
  // one ulp decides the code and the two implementations may legitimately part there.
  describe('agrees with its naive twin (no blocks, no lazy updates, H⁻¹ factored the long way)', () => {
    const rng = new Rng(21);
    const x = correlatedActivations(rng, 200, 50);
    // Column 5 never sees a non-zero activation: a dead column.
    for (let r = 0; r < x.rows; r++) x.data[r * 50 + 5] = 0;
    const w = randomMatrix(rng, 9, 50); // odd rows: the two-row lazy update's remainder
    const h = hessianOf(x);
    it.each([
      { groupSize: 8, blockSize: 16 },
      { groupSize: 12, blockSize: 16 }, // groups straddle blocks; ragged last group
      { groupSize: 32, blockSize: 16, actOrder: true },
      { groupSize: 12, blockSize: 16, actOrder: true, groupStats: 'block-start' },
      { groupSize: 20, blockSize: 7, groupStats: 'block-start' },
      { groupSize: -1, blockSize: 16, actOrder: true },
      { groupSize: 16, actOrder: true, blockSize: 128 },
      { groupSize: 10, blockSize: 8, storableZeros: true, damp: 0.1 },
    ] as GptqOptions[])('%o', (opts) => {
      const fast = gptqQuantize(w, h, opts);
      const ref = gptqQuantizeReference(w, h, opts);
      expect(Array.from(fast.q)).toEqual(Array.from(ref.q));
      expect(Array.from(fast.zeros)).toEqual(Array.from(ref.zeros));
      expect(Array.from(fast.gIdx)).toEqual(Array.from(ref.gIdx));
      expect(maxAbsDiff(fast.scales, ref.scales)).toBeLessThan(1e-9);
      expect(maxAbsDiff(fast.weight, ref.weight)).toBeLessThan(1e-9);
      expect(Math.abs(fast.loss - ref.loss)).toBeLessThan(1e-9 * Math.max(1, ref.loss));
      for (let r = 0; r < w.rows; r++) expect(fast.weight[r * 50 + 5]).toBe(0); // dead column zeroed
    });
  });

  it('block-start and updated group statistics coincide when groups start only at block starts', () => {
    const rng = new Rng(5);
    const x = correlatedActivations(rng, 100, 64);
    const w = randomMatrix(rng, 6, 64);
    const h = hessianOf(x);
    const a = gptqQuantize(w, h, { groupSize: 16, blockSize: 32, groupStats: 'updated' });
    const b = gptqQuantize(w, h, { groupSize: 16, blockSize: 32, groupStats: 'block-start' });
    expect(Array.from(a.q)).not.toEqual(Array.from(b.q)); // groups start mid-block here...
    for (const [groupSize, blockSize] of [
      [16, 16],
      [32, 16],
    ]) {
      const c = gptqQuantize(w, h, { groupSize, blockSize, groupStats: 'updated' });
      const d = gptqQuantize(w, h, { groupSize, blockSize, groupStats: 'block-start' });
      expect(Array.from(c.q)).toEqual(Array.from(d.q)); // ...but not here, even when groups span blocks
    }
  });

  it('act-order: columns go by descending diag H, groups form in that order and g_idx records them', () => {
    const rng = new Rng(9);
    const cols = 24;
    const x = correlatedActivations(rng, 120, cols);
    const h = hessianOf(x);
    const w = randomMatrix(rng, 8, cols);
    const g = gptqQuantize(w, h, { groupSize: 8, actOrder: true });
    const perm = Array.from(g.perm ?? []);
    expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: cols }, (_, i) => i));
    for (let p = 1; p < cols; p++) {
      expect(h[perm[p - 1] * cols + perm[p - 1]]).toBeGreaterThanOrEqual(h[perm[p] * cols + perm[p]]);
    }
    // The p-th processed column belongs to group ⌊p/8⌋; g_idx is indexed by the original column.
    for (let p = 0; p < cols; p++) expect(g.gIdx[perm[p]]).toBe(Math.floor(p / 8));
    expect(Array.from(g.gIdx)).not.toEqual(Array.from({ length: cols }, (_, c) => Math.floor(c / 8)));
    // Codes are stored in the original column order: dequantizing through g_idx gives the result weight.
    expect(maxAbsDiff(dequantize(g), g.weight)).toBe(0);
    // Without act-order the sweep keeps the column order and g_idx is simply c / groupSize.
    const inOrder = gptqQuantize(w, h, { groupSize: 8 });
    expect(inOrder.perm).toBeNull();
    expect(Array.from(inOrder.gIdx)).toEqual(Array.from({ length: cols }, (_, c) => Math.floor(c / 8)));
  });

  it('a factor of H can be shared by layers with the same input', () => {
    const rng = new Rng(4);
    const x = correlatedActivations(rng, 80, 32);
    const h = hessianOf(x);
    const f = factorHessian(h, 32, { actOrder: true, damp: 0.02 });
    for (const seed of [1, 2]) {
      const w = randomMatrix(new Rng(seed), 4, 32);
      const viaFactor = gptqQuantize(w, f, { groupSize: 8 });
      const direct = gptqQuantize(w, h, { groupSize: 8, actOrder: true, damp: 0.02 });
      expect(Array.from(viaFactor.q)).toEqual(Array.from(direct.q));
    }
    expect(() => gptqQuantize(randomMatrix(rng, 4, 32), f, { actOrder: false })).toThrow(QuantShapeError);
  });

  it('fails with typed errors on mismatched shapes and an indefinite Hessian', () => {
    const w = randomMatrix(new Rng(1), 2, 2);
    expect(() => gptqQuantize(w, new Float64Array(9))).toThrow(QuantShapeError);
    expect(() => gptqQuantize(w, new Float64Array([1, 2, 2, 1]), { damp: 0 })).toThrow(
      NotPositiveDefiniteError,
    );
    expect(() => gptqQuantize(w, new Float64Array([1, 0, 0, 1]), { damp: -1 })).toThrow(QuantShapeError);
    expect(() => gptqQuantize(w, new Float64Array([1, 0, 0, NaN]))).toThrow(QuantShapeError);
  });

  it('outputError is ‖X·Wᵀ − X·Ŵᵀ‖²', () => {
    const x = matrix(new Float64Array([1, 2, 0, 1]), 2, 2);
    const w = matrix(new Float64Array([1, 1]), 1, 2);
    const wHat = matrix(new Float64Array([0, 1]), 1, 2);
    // X·(W − Ŵ)ᵀ = [1, 0] → 1
    expect(outputError(x, w, wHat)).toBe(1);
    expect(() => outputError(x, w, matrix(new Float64Array(4), 2, 2))).toThrow(QuantShapeError);
  });
});
