/**
 * Batched decode on the wasm backend (tensors in wasm memory, as the browser runs it): decode passes
 * over several sequences go through the module's row-exact multi-row GEMV, and every sequence's logits
 * are bitwise the ones it gets decoded alone (one row, the single-row GEMV), step after step, for f32
 * and bf16 weights — the batch invariance src/engine/batch-decode.ts promises, now on wasm too.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { wasmBackend, wasmKernels } from '../../src/backends/index.js';
import { wasmAllocator } from '../../src/backends/wasm/wasm-backend.js';
import { decodeLogits, prefillLogits } from '../../src/engine/batch-decode.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import * as T from '../../src/tensor/index.js';
import { cast, noGrad, Rng, setAllocator, type Allocator, type Tensor } from '../../src/tensor/index.js';

const V = 300;
let previous: Allocator;
let f32Model: MiniCPM;
let bf16Model: MiniCPM;

beforeAll(() => {
  T.setBackend(wasmBackend());
  previous = setAllocator(wasmAllocator(wasmKernels()));
  wasmKernels().setThreads(2);
  // K = 352 in the MLP's down projection leaves a tail of the 8-step row loop
  f32Model = MiniCPM.init({ ...presetConfig('tiny', V), hiddenSize: 128, intermediateSize: 352 }, new Rng(9));
  const params = new Map<string, Tensor>();
  for (const [n, t] of f32Model.params)
    params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  bf16Model = new MiniCPM(f32Model.config, params);
});
afterAll(() => {
  setAllocator(previous);
});

const argmax = (a: Float32Array) => a.reduce((b, v, i) => (v > a[b] ? i : b), 0);

describe('wasm batched decode', () => {
  for (const which of ['f32', 'bf16'] as const)
    it(`${which} weights: each sequence's logits bitwise equal decoding it alone, through gemvRows`, () => {
      const model = which === 'f32' ? f32Model : bf16Model;
      const c = model.config;
      const fresh = () => new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 8, 'f32');
      const prompts = [[5, 17, 99, 3, 250, 8], [64, 12, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9], [200]];
      const batched = prompts.map(fresh),
        alone = prompts.map(fresh);
      // prefill each sequence alone into both caches (prefill invariance is the GEMM's, not tested here)
      let next = prompts.map((p, i) => {
        const a = prefillLogits(model, [{ cache: batched[i], tokens: p }], 5)[0];
        const b = prefillLogits(model, [{ cache: alone[i], tokens: p }], 5)[0];
        expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
        return argmax(a);
      });
      const spy = vi.spyOn(wasmKernels(), 'gemvRows');
      try {
        for (let step = 0; step < 4; step++) {
          const got = decodeLogits(
            model,
            batched.map((cache, i) => ({ cache, tokens: [next[i]] })),
          );
          const want = alone.map((cache, i) => decodeLogits(model, [{ cache, tokens: [next[i]] }])[0]);
          got.forEach((g, i) => {
            const a = new Uint32Array(g.buffer, g.byteOffset, g.length),
              b = new Uint32Array(want[i].buffer, want[i].byteOffset, want[i].length);
            if (a.some((v, j) => v !== b[j]))
              expect.fail(`${which} step ${step}: sequence ${i}'s logits differ from its decode alone`);
          });
          next = got.map(argmax);
        }
        expect(spy).toHaveBeenCalled();
        expect(spy.mock.calls.every((a) => a[0] === prompts.length)).toBe(true);
      } finally {
        spy.mockRestore();
        for (const x of [...batched, ...alone]) x.dispose();
      }
    });
});
