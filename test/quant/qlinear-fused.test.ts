// Weights that share an input run as one quantized matmul; with several rows each output is a
// contiguous tensor equal to running that weight alone (one row keeps views of the fused buffer; from
// 64 rows each weight runs on its own call); a runner's kept plan of the kernel calls.
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { qlinears, quantizeToQWeight } from '../../src/quant/index.js';
import { QuantizedLinears } from '../../src/quant/qlinear.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';

useBackend('auto');

describe('qlinears over fused weights', () => {
  for (const bits of [4, 8] as const)
    for (const M of [1, 3, 63, 64, 70]) {
      it(`W${bits}, ${M} row(s): each output equals its weight run alone`, () => {
        const rng = new Rng(bits * 10 + M);
        const K = 64;
        const mk = (out: number) =>
          quantizeToQWeight(
            Float32Array.from({ length: out * K }, () => rng.uniform() - 0.5),
            out,
            K,
            bits,
          );
        const ws = [mk(16), mk(48)];
        const x = Tensor.from(
          Float32Array.from({ length: M * K }, () => rng.uniform() * 2 - 1),
          [1, M, K],
        );
        noGrad(() => {
          const fused = qlinears(x, ws);
          ws.forEach((w, i) => {
            expect(fused[i].shape).toEqual([1, M, w.out]);
            expect(fused[i].isContiguous()).toBe(true);
            expect(fused[i].toArray()).toEqual(qlinears(x, [w])[0].toArray());
          });
        });
      });
    }
});

describe('QuantizedLinears keeps a plan per group of modules', () => {
  it('the kept plan gives the outputs of a fresh one, for one row and many, and follows a replaced weight', () => {
    const rng = new Rng(5);
    const K = 64;
    const mk = (out: number, bits: 4 | 8) =>
      quantizeToQWeight(
        Float32Array.from({ length: out * K }, () => rng.uniform() - 0.5),
        out,
        K,
        bits,
      );
    const weights = new Map([
      ['a', mk(16, 4)],
      ['b', mk(32, 4)],
      ['c', mk(16, 8)],
    ]);
    const runner = new QuantizedLinears(weights, () => {
      throw new Error('no dense layer here');
    });
    const group = ['a', 'b', 'c'];
    noGrad(() => {
      for (const M of [1, 70, 1]) {
        const x = Tensor.from(
          Float32Array.from({ length: M * K }, () => rng.uniform() * 2 - 1),
          [1, M, K],
        );
        const want = qlinears(
          x,
          group.map((m) => weights.get(m)!),
        ).map((t) => t.toArray());
        for (let rep = 0; rep < 2; rep++) {
          const got = runner.run(x, [...group])!;
          expect(got.map((t) => t.toArray())).toEqual(want);
        }
      }
      // another weight under a name the runner has a plan for: its outputs, not the old weight's
      weights.set('b', mk(48, 8));
      const x = Tensor.from(
        Float32Array.from({ length: K }, () => rng.uniform() * 2 - 1),
        [1, 1, K],
      );
      const got = runner.run(x, group)!;
      expect(got[1].shape).toEqual([1, 1, 48]);
      expect(got[1].toArray()).toEqual(qlinears(x, [weights.get('b')!])[0].toArray());
    });
  });
});
