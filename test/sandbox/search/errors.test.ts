/** Bad input fails early with a SearchError that says what to do. */
import { describe, expect, it } from 'vitest';
import { BayesOpt, SearchError, type SearchDim } from '../../../src/sandbox/search/index.js';

const SPACE: SearchDim[] = [
  { name: 'lr', lo: 1e-4, hi: 1e-1, log: true },
  { name: 'scale_depth', lo: 0.5, hi: 4 },
];

const bad = (fn: () => unknown, msg: RegExp) => {
  expect(fn).toThrow(SearchError);
  expect(fn).toThrow(msg);
};

describe('SearchError', () => {
  it('rejects a bad space', () => {
    bad(() => new BayesOpt([{ name: 'a', lo: 2, hi: 1 }], { seed: 0 }), /lo = 2 must be < hi = 1; swap or widen/);
    bad(() => new BayesOpt([{ name: 'a', lo: 1, hi: 1 }], { seed: 0 }), /must be < hi/);
    bad(() => new BayesOpt([{ name: 'lr', lo: 0, hi: 1, log: true }], { seed: 0 }), /log-scaled but lo = 0 ≤ 0; use a positive lo/);
    bad(() => new BayesOpt([], { seed: 0 }), /empty/);
    bad(() => new BayesOpt([SPACE[0], SPACE[0]], { seed: 0 }), /appears twice/);
    bad(() => new BayesOpt([{ name: 'a', lo: 0, hi: Infinity }], { seed: 0 }), /finite/);
  });

  it('rejects bad options', () => {
    bad(() => new BayesOpt(SPACE, { seed: NaN }), /finite numeric seed/);
    bad(() => new BayesOpt(SPACE, { seed: 0, initialRandom: 0 }), /initialRandom = 0 must be an integer ≥ 1/);
    bad(() => new BayesOpt(SPACE, { seed: 0, xi: -1 }), /xi = -1/);
  });

  it('rejects a malformed history', () => {
    const opt = new BayesOpt(SPACE, { seed: 0 });
    bad(() => opt.suggest([{ x: { lr: 0.01 }, y: 3 }]), /x\.scale_depth = undefined is missing/);
    bad(() => opt.suggest([{ x: { lr: -1, scale_depth: 1 }, y: 3 }]), /≤ 0 on a log-scaled dimension/);
  });

  it('surface: unknown or repeated dims, bad steps, nothing finite', () => {
    const opt = new BayesOpt(SPACE, { seed: 0 });
    const h = [{ x: { lr: 0.01, scale_depth: 1.4 }, y: 3 }];
    bad(() => opt.surface(h, 'lr', 'scale_emb', 5), /unknown dimension 'scale_emb'; choose from lr, scale_depth/);
    bad(() => opt.surface(h, 'lr', 'lr', 5), /two different dimensions/);
    bad(() => opt.surface(h, 'lr', 'scale_depth', 1), /steps = 1 must be an integer ≥ 2/);
    bad(() => opt.surface([{ x: h[0].x, y: NaN }], 'lr', 'scale_depth', 3), /at least one trial with a finite loss/);
  });
});
