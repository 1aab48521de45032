// Inference forward passes release each decoder layer's intermediates before the next layer runs
// (MiniCPM.hidden under noGrad): the buffers a prefill takes from the pool do not grow with the number
// of layers, and the hidden states are bitwise those of the same pass with autograd on (one scope).
import { describe, expect, it } from 'vitest';
import { configFromHF } from '../../src/models/config.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { noGrad, pool, Rng, scope, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);

function model(layers: number): MiniCPM {
  const config = configFromHF({
    vocab_size: 96,
    hidden_size: 64,
    intermediate_size: 160,
    num_hidden_layers: layers,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 128,
    scale_emb: 12,
    scale_depth: 1.4,
    dim_model_base: 16,
  });
  return noGrad(() => MiniCPM.init(config, new Rng(layers)));
}

const ids = () =>
  Tensor.from(
    Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 96),
    [1, 40],
    'i32',
  );

/** New pool buffers taken by one prefill from an empty pool (with a KV cache, as generate runs it). */
function prefillAllocations(m: MiniCPM): number {
  const c = m.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 48);
  pool.clear();
  const before = pool.stats.allocations;
  noGrad(() => scope(() => m.hidden(ids(), cache).toArray()));
  const n = pool.stats.allocations - before;
  cache.dispose();
  return n;
}

describe('prefill activation buffers', () => {
  it('a prefill takes as many new buffers for 8 layers as for 2', () => {
    const two = prefillAllocations(model(2));
    const eight = prefillAllocations(model(8));
    expect(eight).toBe(two);
    expect(two).toBeGreaterThan(0);
  });

  it('the hidden states equal those of the same pass with autograd on', () => {
    const m = model(3);
    const plain = scope(() => m.hidden(ids()).toArray());
    const reused = noGrad(() => scope(() => m.hidden(ids()).toArray()));
    expect(reused).toEqual(plain);
    const c = m.config;
    const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 48);
    const cached = noGrad(() => scope(() => m.hidden(ids(), cache).toArray()));
    cache.dispose();
    expect(cached).toEqual(plain);
  });
});
