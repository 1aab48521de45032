/**
 * Activation checkpointing (tensor/checkpoint.ts): a recomputed segment gives bit for bit the gradients
 * of the recorded one, replays its random stream and leaves it where the plain run leaves it, keeps
 * none of its intermediates between forward and backward; and backward releases intermediate gradients.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import {
  add,
  backward,
  checkpoint,
  linear,
  mul,
  noGrad,
  pool,
  Rng,
  rmsNorm,
  scope,
  silu,
  sum,
  Tensor,
  zeroGrad,
} from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

const randn = (rng: Rng, shape: number[], s = 1) =>
  Tensor.from(
    Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => s * rng.normal()),
    shape,
  );

/** A residual block with a random mask drawn from `rng` (dropout-like) and a shared gain. */
function setup(xTrains: boolean) {
  const rng = new Rng(7);
  const D = 24;
  const x = xTrains ? Tensor.parameter(randn(rng, [2, 5, D])) : randn(rng, [2, 5, D]).keep();
  const gain = Tensor.parameter(
    Tensor.from(
      Float32Array.from({ length: D }, () => 1 + 0.1 * rng.normal()),
      [D],
    ),
  );
  const ws = [0, 1, 2].map((i) => Tensor.parameter(randn(rng, [D, D], 0.2), `w${i}`));
  const head = Tensor.parameter(randn(rng, [3, D], 0.3));
  const drops = new Rng(11);
  const block = (i: number) => (h: Tensor) => {
    const n = rmsNorm(h, gain, 1e-5);
    const m = Tensor.from(
      Float32Array.from({ length: n.size }, () => (drops.uniform() < 0.3 ? 0 : 1 / 0.7)),
      n.shape,
    );
    return add(h, silu(linear(mul(n, m), ws[i])));
  };
  const params = [gain, ...ws, head, ...(xTrains ? [x] : [])];
  return { x, params, drops, head, block };
}

function run(xTrains: boolean, ck: boolean) {
  const s = setup(xTrains);
  const loss = scope(() => {
    let h = s.x;
    for (let i = 0; i < 3; i++) h = ck ? checkpoint(s.block(i), h, [s.drops]) : s.block(i)(h);
    const l = sum(mul(linear(h, s.head), linear(h, s.head)));
    backward(l);
    return l.item();
  });
  const grads = s.params.map((p) => Array.from(p.grad!.data as Float32Array));
  const state = s.drops.getState();
  zeroGrad(s.params);
  return { loss, grads, state };
}

for (const { name, backend } of backendCases()) {
  (backend ? describe : describe.skip)(`checkpoint (${name})`, () => {
    beforeAll(() => install(backend));

    for (const xTrains of [true, false])
      it(`gradients bit for bit equal to the recorded graph's (input ${xTrains ? 'trains' : 'frozen'})`, () => {
        const plain = run(xTrains, false);
        const ck = run(xTrains, true);
        expect(ck.loss).toBe(plain.loss);
        expect(ck.grads.length).toBe(plain.grads.length);
        ck.grads.forEach((g, i) => expect(g, `parameter ${i}`).toEqual(plain.grads[i]));
        // the mask stream was replayed, then put back where the plain run leaves it
        expect(ck.state).toEqual(plain.state);
      });

    it('without replaying the stream the recomputed masks differ (the test can fail)', () => {
      const s = setup(true);
      scope(() => {
        let h = s.x;
        for (let i = 0; i < 3; i++) h = checkpoint(s.block(i), h); // no replay
        backward(sum(mul(linear(h, s.head), linear(h, s.head))));
      });
      const plain = run(true, false);
      expect(s.params.map((p) => Array.from(p.grad!.data as Float32Array))).not.toEqual(plain.grads);
    });

    it('keeps only the segment output between forward and backward', () => {
      const s = setup(true);
      const live = (ck: boolean) =>
        scope(() => {
          const before = pool.stats.liveBytes;
          let h = s.x;
          for (let i = 0; i < 3; i++) h = ck ? checkpoint(s.block(i), h, [s.drops]) : s.block(i)(h);
          return pool.stats.liveBytes - before;
        });
      const out = s.x.size * 4;
      expect(live(true)).toBeLessThanOrEqual(3 * out);
      expect(live(false)).toBeGreaterThan(6 * out);
    });

    it('under noGrad it is the plain function', () => {
      const s = setup(false);
      noGrad(() =>
        scope(() => {
          const y = checkpoint(s.block(0), s.x);
          expect(y.node).toBeNull();
          expect(y.requiresGrad).toBe(false);
        }),
      );
    });

    it('backward releases intermediate gradients before the scope ends', () => {
      const rng = new Rng(3);
      const w = Tensor.parameter(randn(rng, [64, 64], 0.1));
      const x = randn(rng, [8, 64]).keep();
      scope(() => {
        let h = x;
        for (let i = 0; i < 20; i++) h = silu(linear(h, w));
        const l = sum(h);
        const before = pool.stats.liveBytes;
        backward(l);
        // kept: w.grad and a few small ones; without the release, 20 products dy·xᵀ of w's size would stay
        expect(pool.stats.liveBytes - before).toBeLessThan(3 * w.size * 4);
      });
      zeroGrad([w]);
    });
  });
}
