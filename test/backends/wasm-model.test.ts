/**
 * The whole model on the wasm backend as the browser runs it: tensors allocated in wasm memory (the
 * backend's allocator), against the float64 PyTorch reference fixtures (logits, loss, every gradient,
 * bf16 weights) and the reference greedy ids, with cached decoding equal to full recomputation.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wasmBackend, wasmKernels } from '../../src/backends/index.js';
import { wasmAllocator } from '../../src/backends/wasm/wasm-backend.js';
import { generateAll } from '../../src/engine/generate.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { recordToTensor } from '../../src/models/weights.js';
import * as T from '../../src/tensor/index.js';
import { setAllocator, Tensor, type Allocator } from '../../src/tensor/index.js';
import { FIXTURES, haveFixtures as have, loadFixture } from '../helpers/fixtures.js';

if (!have) console.warn(`skipping the wasm model tests: ${FIXTURES} is absent`);

interface Expected {
  inputs: number[][];
  targets: number[][];
  loss: number;
  greedy: { prompt: number[]; ids: number[] };
}

const ids2 = (rows: number[][]) =>
  Tensor.from(Int32Array.from(rows.flat()), [rows.length, rows[0].length], 'i32');
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const expectedLogits = (dir: string, file: string) =>
  recordToTensor(openSafetensorsSync(path.join(dir, file)).readSync('logits')).toArray();

let previous: Allocator;
beforeAll(() => {
  T.setBackend(wasmBackend());
  previous = setAllocator(wasmAllocator(wasmKernels()));
});
afterAll(() => {
  setAllocator(previous);
});

for (const fixture of ['tiny-mha', 'tiny-gqa']) {
  describe.skipIf(!have)(`${fixture} on wasm, tensors in wasm memory`, () => {
    it('weights live in wasm memory; logits within 1e-4 and loss within 1e-5 of the reference', () => {
      const { dir, model, expected } = loadFixture<Expected>(fixture);
      const [, first] = [...model.params][0];
      expect(first.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      const logits = T.noGrad(() => model.forward(ids2(expected.inputs)));
      expect(maxAbsDiff(logits.toArray(), expectedLogits(dir, 'expected.safetensors'))).toBeLessThan(1e-4);
      const loss = T.noGrad(() => model.loss(ids2(expected.inputs), ids2(expected.targets))).item();
      expect(Math.abs(loss - expected.loss)).toBeLessThan(1e-5);
    });

    it('every parameter gradient within 1e-4 of its max', () => {
      const { dir, model, expected } = loadFixture<Expected>(fixture);
      T.backward(model.loss(ids2(expected.inputs), ids2(expected.targets)));
      const grads = openSafetensorsSync(path.join(dir, 'grads.safetensors'));
      for (const [name, p] of model.params) {
        const want = recordToTensor(grads.readSync(name)).toArray();
        const scale = Math.max(...want.map(Math.abs));
        expect(maxAbsDiff(p.grad!.toArray(), want) / scale, name).toBeLessThan(1e-4);
      }
    });

    it('the bf16 weights give the bf16 expected logits', () => {
      const { dir, model, expected } = loadFixture<Expected>(fixture, 'model.bf16.safetensors');
      const logits = T.noGrad(() => model.forward(ids2(expected.inputs)));
      expect(maxAbsDiff(logits.toArray(), expectedLogits(dir, 'expected_bf16.safetensors'))).toBeLessThan(
        1e-4,
      );
    });

    it('reproduces the reference greedy ids', async () => {
      const { model, expected } = loadFixture<Expected>(fixture);
      const { prompt, ids } = expected.greedy;
      const [out] = await generateAll(model, [prompt], {
        greedy: true,
        maxNewTokens: ids.length - prompt.length,
        stopIds: [],
      });
      expect([...prompt, ...out]).toEqual(ids);
    });

    it('logits with the KV cache (f32 and bf16) equal full recomputation', () => {
      const { model } = loadFixture<Expected>(fixture);
      const c = model.config;
      const seq = [5, 17, 99, 3, 250, 8, 64, 12, 7, 1];
      const full = T.noGrad(() => model.forward(ids2([seq]))).toArray();
      for (const dtype of ['f32', 'bf16'] as const) {
        const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 1, dtype);
        const pieces: number[] = [];
        let at = 0;
        for (const len of [4, 1, 3, 1, 1]) {
          pieces.push(...T.noGrad(() => model.forward(ids2([seq.slice(at, at + len)]), cache)).toArray());
          at += len;
        }
        // a bf16 cache rounds k and v: 1e-2 is the bf16 step on these O(1) logits
        expect(maxAbsDiff(pieces, full), dtype).toBeLessThan(dtype === 'f32' ? 1e-4 : 2e-2);
      }
    });
  });
}
