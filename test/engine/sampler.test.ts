/**
 * The sampler chain stage by stage: closed-form distributions (as llama.cpp's test-sampling checks
 * them), agreement with the naive float64 twin on random rows large enough to take every fast path
 * (heap and quickselect top-k, the bucketed nucleus, the C softmax), ties, and the draw's frequencies.
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { Candidates } from '../../src/engine/candidates.js';
import { Sampler, type SamplerOptions } from '../../src/engine/sampler.js';
import { useNativeNucleus } from '../../src/engine/sampler-stages.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { Rng } from '../../src/tensor/index.js';
import { referenceDistribution } from './sampler-reference.js';

useBackend('auto');

/** Logits whose softmax is `probs`. */
const fromProbs = (probs: number[]) => Float32Array.from(probs, Math.log);

function expectDist(got: { ids: number[]; probs: number[] }, ids: number[], probs: number[], tol = 1e-6) {
  expect(got.ids).toEqual(ids);
  expect(got.probs).toHaveLength(probs.length);
  got.probs.forEach((p, i) => expect(Math.abs(p - probs[i]), `prob ${i}`).toBeLessThan(tol));
}

describe('sampler stages: closed forms', () => {
  const row = fromProbs([0.1, 0.2, 0.3, 0.4]);
  const dist = (o: SamplerOptions, ctx: number[] = []) => new Sampler(o).distribution(row, ctx);

  it('temperature 1 leaves the distribution; temperature 0.5 squares it', () => {
    expectDist(dist({}), [3, 2, 1, 0], [0.4, 0.3, 0.2, 0.1]);
    expectDist(dist({ temperature: 0.5 }), [3, 2, 1, 0], [16 / 30, 9 / 30, 4 / 30, 1 / 30]);
    expectDist(dist({ temperature: 0 }), [3], [1]);
  });

  it('top-k keeps the k most likely and renormalises', () => {
    expectDist(dist({ topK: 1 }), [3], [1]);
    expectDist(dist({ topK: 3 }), [3, 2, 1], [4 / 9, 3 / 9, 2 / 9]);
    expectDist(dist({ topK: 4 }), [3, 2, 1, 0], [0.4, 0.3, 0.2, 0.1]);
    expectDist(dist({ topK: 0 }), [3, 2, 1, 0], [0.4, 0.3, 0.2, 0.1]);
  });

  it('top-p keeps the shortest prefix reaching p, the crossing token included', () => {
    expectDist(dist({ topP: 0.35 }), [3], [1]);
    expectDist(dist({ topP: 0.65 }), [3, 2], [4 / 7, 3 / 7]);
    expectDist(dist({ topP: 0.75 }), [3, 2, 1], [4 / 9, 3 / 9, 2 / 9]);
    expectDist(dist({ topP: 1 }), [3, 2, 1, 0], [0.4, 0.3, 0.2, 0.1]);
  });

  it('min-p keeps tokens at least m times as likely as the best', () => {
    expectDist(dist({ minP: 0.2 }), [3, 2, 1, 0], [0.4, 0.3, 0.2, 0.1]);
    expectDist(dist({ minP: 0.45 }), [3, 2, 1], [4 / 9, 3 / 9, 2 / 9]);
    expectDist(dist({ minP: 0.74 }), [3, 2], [4 / 7, 3 / 7]);
    expectDist(dist({ minP: 0.76 }), [3], [1]);
  });

  it('stages compose in order: temperature, top-k, top-p, min-p', () => {
    // T = 0.5 → [16, 9, 4, 1]/30; top-k 3 → [16, 9, 4]/29; top-p 0.8 → 16/29 + 9/29 ≥ 0.8 → [16, 9]/25
    expectDist(dist({ temperature: 0.5, topK: 3, topP: 0.8 }), [3, 2], [16 / 25, 9 / 25]);
    // min-p 0.5 after that: 9/25 ≥ 0.5·16/25 keeps both; 0.6 drops id 2
    expectDist(dist({ temperature: 0.5, topK: 3, topP: 0.8, minP: 0.5 }), [3, 2], [16 / 25, 9 / 25]);
    expectDist(dist({ temperature: 0.5, topK: 3, topP: 0.8, minP: 0.6 }), [3], [1]);
  });

  it('penalties are logits processors over the context (each distinct id once)', () => {
    const r = Float32Array.from([2, -1, 0.5, 3]);
    const soft = (l: number[]) => {
      const e = l.map(Math.exp);
      const s = e.reduce((a, b) => a + b);
      return e.map((x) => x / s);
    };
    const rep = new Sampler({ repetitionPenalty: 2 }).distribution(r, [0, 1, 1]);
    const want = soft([1, -2, 0.5, 3]);
    expectDist(rep, [3, 0, 2, 1], [want[3], want[0], want[2], want[1]]);
    const oa = new Sampler({ frequencyPenalty: 0.5, presencePenalty: 0.25 }).distribution(r, [3, 1, 1]);
    const w2 = soft([2, -1 - 1 - 0.25, 0.5, 3 - 0.5 - 0.25]);
    expectDist(oa, [3, 0, 2, 1], [w2[3], w2[0], w2[2], w2[1]]);
    expect(new Sampler({ greedy: true, repetitionPenalty: 4 }).sample(r, [3])).toBe(0);
  });
});

describe('sampler stages: fast paths equal the naive twin', () => {
  const rng = new Rng(11);
  const randomRow = (V: number, scale: number) =>
    Float32Array.from({ length: V }, () => rng.normal() * scale);
  const cases: [string, number, number, SamplerOptions][] = [
    ['small vocab, everything', 50, 2, { temperature: 0.8, topK: 20, topP: 0.9, minP: 0.02 }],
    ['heap top-k', 5000, 3, { topK: 40 }],
    ['heap top-k, large k', 5000, 3, { topK: 2000, temperature: 1.3 }],
    ['quickselect top-k', 20000, 3, { topK: 5000, temperature: 1.3 }],
    ['bucketed top-p, peaked', 20000, 4, { topP: 0.9 }],
    ['bucketed top-p, flat', 20000, 0.05, { topP: 0.5, temperature: 1.1 }],
    ['min-p unsorted', 20000, 3, { minP: 0.05, temperature: 0.7 }],
    ['top-p then min-p', 20000, 3, { topP: 0.95, minP: 0.01 }],
    ['penalties then quickselect', 20000, 3, { topK: 3000, repetitionPenalty: 1.3, frequencyPenalty: 0.2 }],
    ['MiniCPM vocabulary, top-p', 122753, 3, { topP: 0.9, temperature: 1 }],
  ];
  for (const [name, V, scale, o] of cases) {
    it(name, () => {
      const row = randomRow(V, scale);
      const ctx = Array.from({ length: 64 }, () => rng.int(V));
      const got = new Sampler(o).distribution(row, ctx);
      const want = referenceDistribution(row, o, ctx);
      expect(got.ids).toEqual(want.ids);
      let err = 0;
      got.probs.forEach((p, i) => (err = Math.max(err, Math.abs(p - want.probs[i]))));
      expect(err).toBeLessThan(1e-6);
    });
  }

  it('top-p on a peaked row (the cut within the best few) and a flat one (the histogram)', () => {
    for (const spikes of [12, 0]) {
      const row = randomRow(30000, 1);
      for (let i = 0; i < spikes; i++) row[rng.int(30000)] += 12 + rng.normal();
      for (const o of [{ topP: 0.8 }, { topP: 0.97, temperature: 0.9 }]) {
        const got = new Sampler(o).distribution(row);
        const want = referenceDistribution(row, o);
        expect(got.ids).toEqual(want.ids);
        got.probs.forEach((p, i) => expect(Math.abs(p - want.probs[i])).toBeLessThan(1e-6));
        if (spikes) expect(got.ids.length).toBeLessThanOrEqual(spikes);
        else expect(got.ids.length).toBeGreaterThan(64);
      }
    }
  });

  it('top-k with heavy ties keeps the lower ids (heap up to 4096, quickselect above)', () => {
    const V = 6000;
    const row = Float32Array.from({ length: V }, () => rng.int(7));
    for (const k of [1, 40, 4096, 4097, 5999]) {
      const c = new Candidates(V);
      c.load(row);
      c.keepTopK(k);
      c.sort();
      const want = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      expect(Array.from(c.ids.subarray(0, c.n)), `k=${k}`).toEqual(want);
    }
  });

  it('a reused sampler reloads its buffers every row', () => {
    const s = new Sampler({ topK: 5, temperature: 0.9 });
    for (let i = 0; i < 3; i++) {
      const row = randomRow(3000, 2);
      expect(s.distribution(row)).toEqual(new Sampler({ topK: 5, temperature: 0.9 }).distribution(row));
    }
  });
});

describe('draws', () => {
  it('frequencies follow the distribution; a seed repeats the stream', () => {
    const row = fromProbs([0.05, 0.15, 0.3, 0.5]);
    const s = new Sampler({ seed: 3 });
    const n = 20000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[s.sample(row)]++;
    [0.05, 0.15, 0.3, 0.5].forEach((p, i) => expect(Math.abs(counts[i] / n - p)).toBeLessThan(0.012));
    const a = new Sampler({ seed: 9, topP: 0.9 });
    const b = new Sampler({ seed: 9, topP: 0.9 });
    const draws = (x: Sampler) => Array.from({ length: 30 }, () => x.sample(row));
    expect(draws(a)).toEqual(draws(b));
  });

  it('never draws outside the narrowed set', () => {
    const row = fromProbs([0.1, 0.2, 0.3, 0.4]);
    const s = new Sampler({ seed: 1, topP: 0.65 });
    for (let i = 0; i < 500; i++) expect([3, 2]).toContain(s.sample(row));
  });

  it('rejects impossible settings with a clear error', () => {
    expect(() => new Sampler({ frequencyPenalty: 3 })).toThrow(/frequency penalty/);
    expect(() => new Sampler({ topK: 1.5 })).toThrow(/top-k/);
  });
});

describe("top-p's native passes (native/src/nucleus.c) equal the TypeScript twin bit for bit", () => {
  const rng = new Rng(21);
  it.skipIf(!loadNativeKernels())('flat rows, ties, −Infinity entries, every p', () => {
    const rows: Float32Array[] = [];
    for (const [V, scale] of [
      [5000, 0.5],
      [20000, 2.5],
      [122753, 0.6],
    ] as const)
      rows.push(Float32Array.from({ length: V }, () => rng.normal() * scale));
    const tied = Float32Array.from({ length: 9000 }, () => rng.int(40) / 8); // many equal logits
    for (let i = 0; i < 300; i++) tied[rng.int(9000)] = -Infinity;
    rows.push(tied);
    const bits = (a: number[]) => new Uint32Array(Float32Array.from(a).buffer);
    try {
      for (const row of rows)
        for (const o of [{ topP: 0.5 }, { topP: 0.9, temperature: 0.8 }, { topP: 0.999 }]) {
          useNativeNucleus(true);
          const native = new Sampler(o).distribution(row);
          useNativeNucleus(false);
          const twin = new Sampler(o).distribution(row);
          expect(native.ids).toEqual(twin.ids);
          expect(bits(native.probs)).toEqual(bits(twin.probs));
          expect(native.ids.length).toBeGreaterThan(64); // the histogram path, not the best-64 heap
        }
    } finally {
      useNativeNucleus(true);
    }
  });
});
