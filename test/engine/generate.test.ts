/** Generation: cached decoding equals full recomputation; the reference greedy ids are reproduced. */
import { describe, expect, it } from 'vitest';
import { generateAll, padMask } from '../../src/engine/generate.js';
import { Sampler } from '../../src/engine/sampler.js';
import { KVCache } from '../../src/models/kv-cache.js';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

import { haveFixtures as have, loadFixture } from '../helpers/fixtures.js';

function load(name: string) {
  return loadFixture<{ greedy: { prompt: number[]; ids: number[] } }>(name);
}

for (const { name: backendName, backend } of backendCases()) {
  for (const fixture of ['tiny-mha', 'tiny-gqa']) {
    describe.skipIf(!have || !backend)(`${fixture} generation on ${backendName}`, () => {
      it('reproduces the reference greedy ids', async () => {
        install(backend);
        const { model, expected } = load(fixture);
        const { prompt, ids } = expected.greedy;
        const [out] = await generateAll(model, [prompt], {
          greedy: true,
          maxNewTokens: ids.length - prompt.length,
          stopIds: [],
        });
        expect([...prompt, ...out]).toEqual(ids);
      });

      it('logits with the KV cache equal full recomputation, chunk by chunk', () => {
        install(backend);
        const { model } = load(fixture);
        const c = model.config;
        const seq = [5, 17, 99, 3, 250, 8, 64, 12, 7, 1];
        const full = T.noGrad(() =>
          model.forward(Tensor.from(Int32Array.from([...seq, ...seq]), [2, seq.length], 'i32')),
        ).toArray();
        const cache = new KVCache(c.numLayers, 2, c.numKvHeads, c.headDim, 2);
        const pieces: number[][] = [];
        let at = 0;
        for (const len of [4, 1, 3, 1, 1]) {
          const chunk = seq.slice(at, at + len);
          const logits = T.noGrad(() =>
            model.forward(Tensor.from(Int32Array.from([...chunk, ...chunk]), [2, len], 'i32'), cache),
          );
          pieces.push(logits.toArray().slice(0, len * c.vocabSize));
          at += len;
        }
        const cached = pieces.flat();
        const want = full.slice(0, seq.length * c.vocabSize);
        let err = 0;
        cached.forEach((v, i) => (err = Math.max(err, Math.abs(v - want[i]))));
        expect(err).toBeLessThan(1e-4);
      });
    });
  }
}

describe('sampler chain', () => {
  const row = Float32Array.from([1, 3, 2, 0.5, 2.9]);
  it('greedy picks the argmax; top-k 1 equals greedy', () => {
    expect(new Sampler({ greedy: true }).sample(row)).toBe(1);
    expect(new Sampler({ topK: 1, seed: 4 }).sample(row)).toBe(1);
  });
  it('is reproducible with a seed and respects top-p / min-p support', () => {
    const a = Array.from({ length: 50 }, (_, i) =>
      new Sampler({ seed: i, temperature: 1.5, topP: 0.6 }).sample(row),
    );
    const b = Array.from({ length: 50 }, (_, i) =>
      new Sampler({ seed: i, temperature: 1.5, topP: 0.6 }).sample(row),
    );
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(1);
    for (const id of a) expect([1, 4]).toContain(id);
    const s = new Sampler({ seed: 1, minP: 0.5 });
    for (let i = 0; i < 50; i++) expect([1, 4, 2]).toContain(s.sample(row));
  });
  it('repetition penalty steers away from seen tokens', () => {
    expect(new Sampler({ greedy: true, repetitionPenalty: 2 }).sample(row, [1])).toBe(4);
  });
  it('rejects impossible settings with a clear error', () => {
    expect(() => new Sampler({ topP: 0 })).toThrow(/top-p/);
    expect(() => new Sampler({ temperature: -1 })).toThrow(/temperature/);
  });
});

describe.skipIf(!have)('batched prompts of different lengths', () => {
  it('each row equals generating its prompt alone (left padding is masked; RoPE is relative)', async () => {
    install(backendCases()[0].backend);
    const { model } = load('tiny-gqa');
    const prompts = [
      [1, 200, 3, 64, 17, 99],
      [1, 5, 9],
      [1, 42, 7, 250],
    ];
    const alone = await Promise.all(
      prompts.map(
        async (p) => (await generateAll(model, [p], { greedy: true, maxNewTokens: 6, stopIds: [] }))[0],
      ),
    );
    const batched = await generateAll(model, prompts, { greedy: true, maxNewTokens: 6, stopIds: [] });
    expect(batched).toEqual(alone);
  });

  it('left-padded logits equal the unpadded ones (the mask hides the padding)', () => {
    install(backendCases()[0].backend);
    const { model } = load('tiny-gqa');
    const V = model.config.vocabSize;
    const short = [1, 5, 9];
    const width = 6;
    const alone = T.noGrad(() => model.forward(Tensor.from(Int32Array.from(short), [1, 3], 'i32'))).toArray();
    const padded = [2, 2, 2, ...short];
    const mask = padMask([3], width)!;
    const logits = T.noGrad(() =>
      model.forward(Tensor.from(Int32Array.from(padded), [1, width], 'i32'), undefined, mask),
    ).toArray();
    let err = 0;
    for (let t = 0; t < 3; t++)
      for (let v = 0; v < V; v++) err = Math.max(err, Math.abs(logits[(3 + t) * V + v] - alone[t * V + v]));
    expect(err).toBeLessThan(1e-4);
    const leaky = T.noGrad(() =>
      model.forward(Tensor.from(Int32Array.from(padded), [1, width], 'i32')),
    ).toArray();
    expect(Math.abs(leaky[5 * V] - alone[2 * V])).toBeGreaterThan(1e-3);
  });
});
