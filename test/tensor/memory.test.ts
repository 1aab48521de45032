/** The memory rule: a training loop's pool and RSS stay flat across hundreds of steps. */
import { describe, expect, it } from 'vitest';
import * as T from '../../src/tensor/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

function init(rng: Rng, shape: number[], std: number): Tensor {
  const a = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
  return Tensor.parameter(Tensor.from(a, shape));
}

for (const { name, backend } of backendCases()) {
  describe.skipIf(!backend)(`memory on ${name}`, () => {
    it('a small MLP trained for 300 steps allocates nothing after warm-up and frees every activation', () => {
      install(backend);
      const rng = new Rng(3);
      const w1 = init(rng, [16, 32], 0.3);
      const w2 = init(rng, [32, 4], 0.3);
      const params = [w1, w2];
      const moments = params.map((p) => [Tensor.zeros(p.shape).keep(), Tensor.zeros(p.shape).keep()]);
      const x = Tensor.from(
        Float32Array.from({ length: 64 * 16 }, () => rng.normal()),
        [64, 16],
      ).keep();
      const y = Tensor.from(
        Int32Array.from({ length: 64 }, (_, i) => i % 4),
        [64],
        'i32',
      ).keep();
      const losses: number[] = [];
      let liveAfterWarmup = 0;
      let allocsAfterWarmup = 0;
      const rss: number[] = [];
      for (let step = 1; step <= 300; step++) {
        T.scope(() => {
          const h = T.silu(T.matmul(x, w1));
          const loss = T.crossEntropy(T.matmul(h, w2), y);
          losses.push(loss.item());
          T.backward(loss);
          params.forEach((p, i) => {
            T.adamwStep(p, p.grad!, moments[i][0], moments[i][1], {
              lr: 1e-2,
              beta1: 0.9,
              beta2: 0.95,
              eps: 1e-8,
              weightDecay: 0,
              step,
            });
          });
          T.zeroGrad(params);
        });
        if (step === 20) {
          liveAfterWarmup = T.pool.stats.liveBytes;
          allocsAfterWarmup = T.pool.stats.allocations;
        }
        if (step % 50 === 0) rss.push(process.memoryUsage().rss);
      }
      expect(T.pool.stats.liveBytes).toBe(liveAfterWarmup);
      expect(T.pool.stats.allocations).toBe(allocsAfterWarmup);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.5);
      // RSS may wobble with the GC, but must not climb steadily.
      expect(rss[rss.length - 1] - rss[0]).toBeLessThan(32 * 2 ** 20);
    });
  });
}

describe('buffer pool', () => {
  it('evicts the buffers parked longest ago once over its cap; recurring shapes stay pooled', () => {
    const cap = T.pool.maxPooledBytes;
    T.pool.clear();
    T.pool.maxPooledBytes = 4096 * 4 * 3; // three 4096-float buffers
    try {
      // shapes that never recur (an evaluation's prompts) age out ...
      for (let n = 4096; n < 4096 + 8; n++) T.scope(() => void Tensor.empty([n]));
      expect(T.pool.stats.pooledBytes).toBeLessThanOrEqual(T.pool.maxPooledBytes);
      // ... while a shape used every step is re-parked each time and so is always reused
      const reuses = T.pool.stats.reuses;
      for (let step = 0; step < 5; step++) {
        T.scope(() => void Tensor.empty([2000]));
        for (let n = 5000; n < 5002; n++) T.scope(() => void Tensor.empty([n]));
      }
      expect(T.pool.stats.reuses - reuses).toBeGreaterThanOrEqual(4);
    } finally {
      T.pool.maxPooledBytes = cap;
      T.pool.clear();
    }
  });
});
