import { describe, expect, it } from 'vitest';
import {
  dpoLoss,
  dpoLossValue,
  logSigmoid,
  checkDpoOptions,
  type DpoOptions,
} from '../../src/align/dpo-loss.js';
import { AlignError } from '../../src/align/errors.js';
import { refBackend } from '../../src/backends/index.js';
import { backward, Rng, setBackend, Tensor } from '../../src/tensor/index.js';
import { gradCheck, randomF64 } from '../helpers/gradcheck.js';

setBackend(refBackend()); // f64 math, exact enough for closed forms and finite differences

const f64 = (xs: number[]) => Tensor.from(Float64Array.from(xs), [xs.length], 'f64');
const kinds: DpoOptions[] = [
  { beta: 0.1, loss: 'sigmoid' },
  { beta: 0.5, loss: 'sigmoid', labelSmoothing: 0.2 },
  { beta: 0.1, loss: 'hinge' },
  { beta: 0.3, loss: 'ipo' },
];

describe('logSigmoid', () => {
  it('matches log σ(z) in closed form, stays finite far out, and has slope 1/2 at 0', () => {
    const zs = [-1000, -80, -31, -30, -29.9, -5, -1e-3, 0, 1e-3, 2, 40, 1000];
    const got = logSigmoid(f64(zs)).toArray();
    zs.forEach((z, i) => {
      const want = z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
      expect(got[i]).toBeCloseTo(want, 10);
    });
    // the first DPO step has z = 0 exactly for every pair: the gradient must be σ(−0) = 1/2, not 0
    const z = Tensor.parameter(f64([0, 0]));
    backward(logSigmoid(z), f64([1, 1]));
    expect(z.grad!.toArray()).toEqual([0.5, 0.5]);
  });
});

describe('DPO losses', () => {
  it('equal their closed forms (sigmoid, label smoothing, hinge, IPO)', () => {
    const rng = new Rng(1);
    const vals = () => Array.from({ length: 6 }, () => -50 + 20 * rng.normal());
    for (const o of kinds) {
      const [pc, pr, rc, rr] = [vals(), vals(), vals(), vals()];
      const got = dpoLoss(f64(pc), f64(pr), f64(rc), f64(rr), o).item();
      expect(got).toBeCloseTo(dpoLossValue(pc, pr, rc, rr, o), 10);
    }
  });

  it('is ln 2 with the policy equal to its reference (sigmoid), 1 (hinge), 1/(4β²) (IPO)', () => {
    const p = [-10, -20, -30];
    expect(dpoLoss(f64(p), f64(p), f64(p), f64(p), { beta: 0.1, loss: 'sigmoid' }).item()).toBeCloseTo(
      Math.LN2,
      12,
    );
    expect(dpoLoss(f64(p), f64(p), f64(p), f64(p), { beta: 0.1, loss: 'hinge' }).item()).toBeCloseTo(1, 12);
    expect(dpoLoss(f64(p), f64(p), f64(p), f64(p), { beta: 0.5, loss: 'ipo' }).item()).toBeCloseTo(1, 12);
  });

  it('gradients match finite differences, including at h = 0', () => {
    const rng = new Rng(2);
    for (const o of kinds) {
      const pc = randomF64(rng, [5], 3);
      const pr = randomF64(rng, [5], 3);
      const rc = randomF64(rng, [5], 3);
      const rr = randomF64(rng, [5], 3);
      const r = gradCheck(([a, b]) => dpoLoss(a, b, rc, rr, o), [pc, pr]);
      expect(r.maxError, `${o.loss}: ${r.worst}`).toBeLessThan(1e-6);
    }
    // at the start of training: h = 0, d loss / d log π(chosen) = −β/2 per pair / P
    const x = Tensor.parameter(f64([-5, -7]));
    const y = Tensor.parameter(f64([-6, -9]));
    backward(dpoLoss(x, y, f64([-5, -7]), f64([-6, -9]), { beta: 0.1, loss: 'sigmoid' }));
    x.grad!.toArray().forEach((g) => expect(g).toBeCloseTo(-0.1 / 2 / 2, 12));
    y.grad!.toArray().forEach((g) => expect(g).toBeCloseTo(0.1 / 2 / 2, 12));
  });

  it('rejects impossible settings with a clear error', () => {
    expect(() => checkDpoOptions({ beta: 0, loss: 'sigmoid' })).toThrow(AlignError);
    expect(() => checkDpoOptions({ beta: 0.1, loss: 'kto' as 'ipo' })).toThrow(/sigmoid, hinge or ipo/);
    expect(() => checkDpoOptions({ beta: 0.1, loss: 'hinge', labelSmoothing: 0.1 })).toThrow(
      /sigmoid loss only/,
    );
    expect(() => checkDpoOptions({ beta: 0.1, loss: 'sigmoid', labelSmoothing: 0.5 })).toThrow(/\[0, 0.5\)/);
  });
});
