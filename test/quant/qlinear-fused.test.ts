// Weights that share an input run as one quantized matmul; with several rows each output is a
// contiguous tensor equal to running that weight alone (one row keeps views of the fused buffer; from
// 64 rows each weight runs on its own call).
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { qlinears, quantizeToQWeight } from '../../src/quant/index.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';

useBackend('auto');

describe('qlinears over fused weights', () => {
  for (const bits of [4, 8] as const)
    for (const M of [1, 3, 63, 64, 70]) {
      it(`W${bits}, ${M} row(s): each output equals its weight run alone`, () => {
        const rng = new Rng(bits * 10 + M);
        const K = 64;
        const mk = (out: number) =>
          quantizeToQWeight(Float32Array.from({ length: out * K }, () => rng.uniform() - 0.5), out, K, bits);
        const ws = [mk(16), mk(48)];
        const x = Tensor.from(Float32Array.from({ length: M * K }, () => rng.uniform() * 2 - 1), [1, M, K]);
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
