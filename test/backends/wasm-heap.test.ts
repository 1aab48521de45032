/**
 * The wasm backend hands tensor memory back to its heap: with useBackend('wasm') a released tensor's
 * block is freed (the JS buffer pool keeps none), so after a greedy generate — f32 weights, and a W4
 * model on the int4 kernels — the heap's use is what it was before, and repeated generations do not
 * grow it; disposing a model's parameters frees their blocks too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend, wasmKernels } from '../../src/backends/index.js';
import { generateAll } from '../../src/engine/generate.js';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { quantizeModel } from '../../src/quant/quantize-model.js';
import { pool, Rng, scope } from '../../src/tensor/index.js';

const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 96,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 256,
});

const k = wasmKernels();
beforeAll(() => void useBackend('wasm'));
afterAll(() => void useBackend('auto'));

async function greedy(model: MiniCPM, prompt: number[], n: number): Promise<number[]> {
  const [ids] = await generateAll(model, [prompt], { greedy: true, maxNewTokens: n, stopIds: [] });
  return ids;
}

describe('wasm heap use across generations', () => {
  it('returns to its level before a generate (f32), and does not grow over repeats', async () => {
    const model = MiniCPM.init(config, new Rng(1));
    await greedy(model, [1, 5, 9, 20, 31], 12); // warm-up: tables built on first use (rope) stay
    const base = k.rt.heapUsed();
    const first = await greedy(model, [1, 5, 9, 20, 31], 12);
    expect(first).toHaveLength(12);
    expect(k.rt.heapUsed()).toBe(base);
    for (let i = 0; i < 3; i++) {
      expect(await greedy(model, [1, 5, 9, 20, 31], 12)).toEqual(first);
      expect(k.rt.heapUsed()).toBe(base);
    }
    // other shapes (a shorter prompt and answer): a pool of parked buffers would keep these too
    await greedy(model, [2, 3], 6);
    await greedy(model, [7, 8, 9, 10], 9);
    expect(k.rt.heapUsed()).toBe(base);
    expect(pool.stats.pooledBytes).toBe(0);
  });

  it('returns to its level after a W4 generate, and disposing the parameters frees them', async () => {
    const before = k.rt.heapUsed();
    const rng = new Rng(2);
    const seqs = [0, 1].map(() => Array.from({ length: 24 }, () => Math.floor(rng.uniform() * 96)));
    const { model } = scope(() =>
      quantizeModel(MiniCPM.init(config, new Rng(3)), seqs, { bits: 4, groupSize: 32 }),
    );
    await greedy(model, [3, 4], 3);
    const base = k.rt.heapUsed();
    expect(base).toBeGreaterThan(before);
    await greedy(model, [3, 4, 7, 8, 9], 10);
    expect(k.rt.heapUsed()).toBe(base);
    // float parameters go back to the heap when disposed (the W4 codes are kept by the runner)
    let floatBytes = 0;
    for (const [, p] of model.params) floatBytes += p.data.byteLength;
    for (const [, p] of model.params) p.dispose();
    expect(k.rt.heapUsed()).toBeLessThanOrEqual(base - floatBytes);
  });
});
