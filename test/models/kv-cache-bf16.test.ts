/**
 * A bf16 KV cache: attention over bf16 keys/values equals f32 attention over the same (rounded) values
 * on every backend, decode reads them directly, and cached decoding stays within bf16 rounding of full
 * recomputation.
 */
import { describe, expect, it } from 'vitest';
import { generateAll } from '../../src/engine/generate.js';
import { KVCache } from '../../src/models/kv-cache.js';
import * as T from '../../src/tensor/index.js';
import { DTypeError, Rng, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';
import { haveFixtures, loadFixture } from '../helpers/fixtures.js';

function rand(rng: Rng, shape: number[]): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

function maxRelErr(got: number[], want: number[]): number {
  const scale = Math.max(1e-6, ...want.map(Math.abs));
  let err = 0;
  got.forEach((v, i) => (err = Math.max(err, Math.abs(v - want[i]))));
  return err / scale;
}

for (const { name, backend } of backendCases()) {
  describe.skipIf(!backend)(`bf16 KV cache on ${name}`, () => {
    it('attention over bf16 k/v equals f32 attention over the rounded values (decode and prefill)', () => {
      install(backend);
      const rng = new Rng(5);
      for (const [B, Tq, S, Hq, Hkv, D, qOffset] of [
        [1, 1, 1, 1, 1, 4, 0],
        [1, 1, 37, 6, 3, 16, 36],
        [2, 1, 300, 4, 4, 8, 299],
        [1, 1, 700, 6, 2, 32, 450], // keys split over threads, some hidden
        [1, 5, 12, 4, 2, 8, 7], // prefill over a cache: widened, then the f32 path
        [2, 3, 3, 2, 1, 5, 0],
      ]) {
        T.noGrad(() =>
          T.scope(() => {
            const q = rand(rng, [B, Tq, Hq, D]);
            const k16 = T.cast(rand(rng, [B, S, Hkv, D]), 'bf16');
            const v16 = T.cast(rand(rng, [B, S, Hkv, D]), 'bf16');
            const got = T.attention(q, k16, v16, { qOffset }).toArray();
            const want = T.attention(q, T.cast(k16, 'f32'), T.cast(v16, 'f32'), { qOffset }).toArray();
            expect(maxRelErr(got, want), `${[B, Tq, S, Hq, Hkv, D, qOffset].join(',')}`).toBeLessThan(1e-5);
          }),
        );
      }
    });

    it('rejects mixed dtypes and gradients through a bf16 cache', () => {
      install(backend);
      const rng = new Rng(6);
      const q = Tensor.parameter(rand(rng, [1, 1, 2, 4]));
      const k = T.noGrad(() => T.cast(rand(rng, [1, 3, 2, 4]), 'bf16'));
      expect(() => T.attention(q, k, k)).toThrow(/bf16 KV cache is for inference/);
      expect(() => T.attention(q, k, rand(rng, [1, 3, 2, 4]))).toThrow(DTypeError);
      expect(() => new KVCache(1, 1, 2, 4, 8, 'f16' as 'bf16')).toThrow(/one of f32, bf16, int8/);
    });

    it.skipIf(!haveFixtures)('cached decoding stays within bf16 rounding of full recomputation', async () => {
      install(backend);
      const { model, expected } = loadFixture<{ greedy: { prompt: number[]; ids: number[] } }>('tiny-gqa');
      const c = model.config;
      const seq = [5, 17, 99, 3, 250, 8, 64, 12, 7, 1];
      const full = T.noGrad(() =>
        model.forward(Tensor.from(Int32Array.from(seq), [1, seq.length], 'i32')),
      ).toArray();
      const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 2, 'bf16'); // grows twice
      const pieces: number[] = [];
      let at = 0;
      for (const len of [4, 1, 3, 1, 1]) {
        const ids = Tensor.from(Int32Array.from(seq.slice(at, at + len)), [1, len], 'i32');
        pieces.push(...T.noGrad(() => model.forward(ids, cache)).toArray());
        at += len;
      }
      const err = maxRelErr(pieces, full);
      expect(err).toBeGreaterThan(0); // the cache really rounds
      expect(err).toBeLessThan(2e-2);
      cache.dispose();
      // the fixture's greedy continuation survives the rounding
      const { prompt, ids } = expected.greedy;
      const [out] = await generateAll(model, [prompt], {
        greedy: true,
        maxNewTokens: ids.length - prompt.length,
        stopIds: [],
        kvCacheDtype: 'bf16',
      });
      expect([...prompt, ...out]).toEqual(ids);
    });
  });
}
