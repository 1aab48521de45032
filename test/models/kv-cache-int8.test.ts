/**
 * The int8 KV cache on every backend (ref: the TypeScript twin; native; wasm with tensors in its
 * memory): attention over it equals attention over the dequantized rows, the cache grows and copies
 * prefixes, batched serving runs over it, and on the fixture models cached decoding stays within a
 * stated tolerance of f32 recomputation with the reference greedy ids unchanged.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBackend, refBackend, wasmBackend, wasmKernels } from '../../src/backends/index.js';
import { wasmAllocator } from '../../src/backends/wasm/wasm-backend.js';
import { decodeLogits, prefillLogits } from '../../src/engine/batch-decode.js';
import { generateAll } from '../../src/engine/generate.js';
import { optionLogProbs } from '../../src/eval/likelihood.js';
import { KVCache } from '../../src/models/kv-cache.js';
import * as T from '../../src/tensor/index.js';
import {
  DTypeError,
  Rng,
  setAllocator,
  Tensor,
  type Allocator,
  type Backend,
} from '../../src/tensor/index.js';
import { haveFixtures, loadFixture } from '../helpers/fixtures.js';

function rand(rng: Rng, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  );
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let top = 1e-6;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    top = Math.max(top, Math.abs(want[i]));
  }
  return err / top;
}

/** codes/scales of x [B, S, H, D] as fresh tensors, and the dequantized f32 values. */
function quantized(x: Tensor) {
  const [B, S, H, D] = x.shape;
  const codes = Tensor.empty([B, S, H, D], 'i8');
  const scales = Tensor.empty([B, S, H], 'f32');
  T.quantizeKv8Into(x, codes, scales);
  const c = codes.toArray();
  const d = scales.toArray();
  const deq = new Float32Array(c.length);
  for (let r = 0; r < d.length; r++) for (let i = 0; i < D; i++) deq[r * D + i] = d[r] * c[r * D + i];
  return { codes, scales, deq: Tensor.from(deq, [B, S, H, D]) };
}

const wasmOk = (() => {
  try {
    return wasmKernels().kv8Available();
  } catch {
    return false;
  }
})();

const cases: { name: string; backend: () => Backend | null; inWasm?: boolean }[] = [
  { name: 'ref', backend: refBackend },
  { name: 'native', backend: nativeBackend },
  { name: 'wasm', backend: () => (wasmOk ? wasmBackend() : null), inWasm: true },
];

let previous: Allocator | null = null;
afterAll(() => void (previous && setAllocator(previous)));

for (const { name, backend, inWasm } of cases) {
  const b = backend();
  describe.skipIf(!b)(`int8 KV cache on ${name}`, () => {
    const install = () => {
      T.setBackend(b!);
      if (inWasm) previous ??= setAllocator(wasmAllocator(wasmKernels()));
      else if (previous) {
        setAllocator(previous);
        previous = null;
      }
    };

    it('attention over int8 k/v equals f32 attention over the dequantized rows (decode, prefill, masks)', () => {
      install();
      const rng = new Rng(7);
      for (const [B, Tq, S, Hq, Hkv, D, qOffset] of [
        [1, 1, 1, 1, 1, 4, 0],
        [1, 1, 37, 6, 3, 17, 36],
        [2, 1, 300, 4, 4, 8, 299],
        [1, 1, 700, 8, 2, 64, 450],
        [1, 5, 12, 4, 2, 20, 7],
        [2, 3, 3, 2, 1, 5, 0],
      ]) {
        T.noGrad(() =>
          T.scope(() => {
            const q = rand(rng, [B, Tq, Hq, D]);
            const k = quantized(rand(rng, [B, S, Hkv, D], 3));
            const v = quantized(rand(rng, [B, S, Hkv, D]));
            const got = T.attentionKv8(q, k.codes, k.scales, v.codes, v.scales, { qOffset }).toArray();
            const want = T.attention(q, k.deq, v.deq, { qOffset }).toArray();
            expect(maxRelErr(got, want), `${[B, Tq, S, Hq, Hkv, D, qOffset].join(',')}`).toBeLessThan(1e-5);
            // an additive mask takes the dequantize-then-attend path
            const mask = Tensor.from(
              Float32Array.from({ length: S }, (_, s) => (s % 3 === 1 ? -Infinity : 0)),
              [1, 1, 1, S],
            );
            const gm = T.attentionKv8(q, k.codes, k.scales, v.codes, v.scales, { qOffset, mask }).toArray();
            const wm = T.attention(q, k.deq, v.deq, { qOffset, mask }).toArray();
            expect(maxRelErr(gm, wm)).toBeLessThan(1e-5);
          }),
        );
      }
    });

    it('grows, reports its bytes, copies prefixes and refuses gradients and wrong dtypes', () => {
      install();
      const rng = new Rng(8);
      const [L, Hkv, D] = [2, 2, 16];
      const cache = new KVCache(L, 1, Hkv, D, 2, 'int8');
      expect(cache.bytesPerToken).toBe(2 * L * (Hkv * D + 4 * Hkv)); // 1 byte a code + a 4-byte scale per head
      expect(new KVCache(L, 1, Hkv, D, 2, 'f32').bytesPerToken).toBe(2 * L * Hkv * D * 4);
      expect(new KVCache(L, 3, Hkv, D, 2, 'bf16').bytesPerToken).toBe(3 * 2 * L * Hkv * D * 2);
      expect(KVCache.bytesPerPosition('int8', L, Hkv, D)).toBe(cache.bytesPerToken);
      const ks = [rand(rng, [1, 3, Hkv, D]), rand(rng, [1, 4, Hkv, D])];
      T.noGrad(() => {
        for (const k of ks) {
          for (let l = 0; l < L; l++) cache.append(l, k, k); // the second append grows 3 → 7
          cache.advance(k.shape[1]);
        }
      });
      const all = T.concat(ks, 1);
      const { k } = cache.read(1);
      expect(k.shape).toEqual([1, 7, Hkv, D]);
      expect(maxRelErr(k.toArray(), quantized(all).deq.toArray())).toBe(0); // the growth copied codes and scales
      expect(maxRelErr(k.toArray(), all.toArray())).toBeLessThan(1 / 127);
      // a prefix copied through read/append (the server's prefix cache) quantizes to the same codes
      const copy = new KVCache(L, 1, Hkv, D, 8, 'int8');
      T.noGrad(() => copy.append(0, k, k));
      copy.advance(7);
      expect(maxRelErr(copy.read(0).k.toArray(), k.toArray())).toBeLessThan(1e-6);
      const q = Tensor.parameter(rand(rng, [1, 1, 2, D]));
      const c8 = quantized(rand(rng, [1, 3, 1, D]));
      expect(() => T.attentionKv8(q, c8.codes, c8.scales, c8.codes, c8.scales)).toThrow(/for inference/);
      expect(() => T.noGrad(() => T.attentionKv8(q, c8.deq, c8.scales, c8.codes, c8.scales))).toThrow(
        DTypeError,
      );
      expect(() => new KVCache(1, 1, 2, 4, 8, 'int4' as 'int8')).toThrow(/one of f32, bf16, int8/);
      // codes whose positions and heads are swapped are no cache slice: named, nothing written
      const swapped = Tensor.empty([1, 2, 2, 4], 'i8').view([1, 2, 2, 4], [16, 4, 8, 1], 0);
      expect(() =>
        T.noGrad(() => T.quantizeKv8Into(rand(rng, [1, 2, 2, 4]), swapped, Tensor.empty([1, 2, 2]))),
      ).toThrow(/position slices/);
      cache.dispose();
      copy.dispose();
    });

    it.skipIf(!haveFixtures)(
      'cached decoding: within 3% of f32 recomputation, the reference greedy ids kept',
      async () => {
        install();
        for (const fixture of ['tiny-gqa', 'tiny-mha']) {
          const { model, expected } = loadFixture<{ greedy: { prompt: number[]; ids: number[] } }>(fixture);
          const c = model.config;
          const seq = [5, 17, 99, 3, 250, 8, 64, 12, 7, 1];
          const ids = (s: number[]) => Tensor.from(Int32Array.from(s), [1, s.length], 'i32');
          const full = T.noGrad(() => model.forward(ids(seq))).toArray();
          const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 2, 'int8'); // grows twice
          const pieces: number[] = [];
          let at = 0;
          for (const len of [4, 1, 3, 1, 1]) {
            pieces.push(...T.noGrad(() => model.forward(ids(seq.slice(at, at + len)), cache)).toArray());
            at += len;
          }
          const err = maxRelErr(pieces, full);
          expect(err, fixture).toBeGreaterThan(1e-4); // the cache really quantizes
          expect(err, fixture).toBeLessThan(3e-2);
          // one scale per position and head: a position's codes do not depend on when it was appended,
          // so one prefill through a fresh cache gives the chunked logits
          const once = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 16, 'int8');
          const whole = T.noGrad(() => model.forward(ids(seq), once)).toArray();
          expect(maxRelErr(whole, pieces), fixture).toBeLessThan(1e-4);
          cache.dispose();
          once.dispose();
          const { prompt, ids: want } = expected.greedy;
          const [out] = await generateAll(model, [prompt], {
            greedy: true,
            maxNewTokens: want.length - prompt.length,
            stopIds: [],
            kvCacheDtype: 'int8',
          });
          expect([...prompt, ...out], fixture).toEqual(want);
        }
      },
    );

    it.skipIf(!haveFixtures)(
      'a model whose kvCacheDtype is int8 scores options through an int8 cache (eval)',
      () => {
        install();
        const { model } = loadFixture('tiny-gqa');
        const prompt = [5, 17, 99, 3, 250, 8];
        const options = [[64, 12], [7], [1, 2, 3]];
        const f32 = optionLogProbs(model, prompt, options).map((o) => o.sum);
        model.kvCacheDtype = 'int8';
        const int8 = optionLogProbs(model, prompt, options).map((o) => o.sum);
        expect(int8).not.toEqual(f32);
        int8.forEach((x, i) => expect(Math.abs(x - f32[i])).toBeLessThan(0.05 * Math.abs(f32[i]) + 0.05));
      },
    );

    it.skipIf(!haveFixtures)('batched serving over int8 caches equals each sequence alone', () => {
      install();
      const { model } = loadFixture('tiny-gqa');
      const c = model.config;
      const fresh = () => new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 4, 'int8');
      const prompts = [
        [5, 17, 99, 3, 250, 8],
        [64, 12, 7],
      ];
      const caches = prompts.map(fresh);
      const first = prefillLogits(
        model,
        prompts.map((tokens, i) => ({ cache: caches[i], tokens })),
        5,
      );
      const next = decodeLogits(
        model,
        caches.map((cache) => ({ cache, tokens: [42] })),
      );
      prompts.forEach((p, i) => {
        const alone = fresh();
        const a = T.noGrad(() => model.forward(Tensor.from(Int32Array.from(p), [1, p.length], 'i32'), alone));
        const V = c.vocabSize;
        expect(maxRelErr(first[i], a.toArray().slice((p.length - 1) * V))).toBeLessThan(1e-4);
        const b2 = T.noGrad(() => model.forward(Tensor.from(Int32Array.from([42]), [1, 1], 'i32'), alone));
        expect(maxRelErr(next[i], b2.toArray())).toBeLessThan(1e-4);
        alone.dispose();
      });
      for (const x of caches) x.dispose();
    });
  });
}
