/**
 * The sampler's C passes (native/src/sample-stages.c) against their TypeScript twins, bit for bit:
 * every stage's output buffers (ids, logits, probabilities, live count) and a seeded sampler's ids,
 * on rows that are Gaussian, peaked, tied (few distinct logits) and carry −Infinity entries, at sizes
 * hitting each remainder of the four-way sums and the heap's edge cases (k = 1, k = n − 1).
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { Candidates } from '../../src/engine/candidates.js';
import { sampleKernels, useNativeSampler } from '../../src/engine/sample-kernels.js';
import { Sampler, type SamplerOptions } from '../../src/engine/sampler.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import {
  applyTemperature,
  draw,
  minP,
  topK,
  topP,
  useNativeNucleus,
} from '../../src/engine/sampler-stages.js';
import { Rng } from '../../src/tensor/index.js';

useBackend('auto');
const native = sampleKernels() !== null;

function row(n: number, kind: 'gauss' | 'peaked' | 'tied' | 'ninf', seed: number): Float32Array {
  const rng = new Rng(seed);
  const r = Float32Array.from({ length: n }, () => rng.normal() * 2.5);
  if (kind === 'peaked') for (let i = 0; i < Math.min(20, n); i++) r[rng.int(n)] += 12 + rng.normal();
  if (kind === 'tied') for (let i = 0; i < n; i++) r[i] = Math.round(r[i]);
  if (kind === 'ninf') for (let i = 0; i < n; i += 3) r[i] = -Infinity;
  return r;
}

/** Runs `stage` on a fresh set loaded with `r`, native (true) or twin (false); returns what it left. */
function run(r: Float32Array, on: boolean, stage: (c: Candidates) => number | void) {
  useNativeSampler(on);
  useNativeNucleus(on);
  try {
    const c = new Candidates(r.length);
    c.load(r);
    const out = stage(c);
    const n = c.n;
    return {
      out,
      n,
      sorted: c.sorted,
      ids: c.ids.slice(0, n),
      logits: c.logits.slice(0, n),
      probs: c.probsValid ? c.probs.slice(0, n) : null,
    };
  } finally {
    useNativeSampler(true);
    useNativeNucleus(true);
  }
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 41, 64, 65, 1023, 1030, 4097, 20001];
const KINDS = ['gauss', 'peaked', 'tied', 'ninf'] as const;

const STAGES: [string, (c: Candidates) => number | void][] = [
  ['temperature 0.7', (c) => applyTemperature(c, 0.7)],
  ['temperature 1.3 then probabilities', (c) => (applyTemperature(c, 1.3), c.computeProbs())],
  ['top-k 1', (c) => topK(c, 1)],
  ['top-k 40', (c) => topK(c, 40)],
  ['top-k n − 1', (c) => topK(c, Math.max(1, c.n - 1))],
  ['best 64 positions', (c) => Array.from(c.bestPositions(64)).join(',')],
  ['top-p 0.9', (c) => topP(c, 0.9)],
  ['top-p 0.5 after temperature 2 (flat)', (c) => (applyTemperature(c, 2), topP(c, 0.5))],
  ['top-p 0.999', (c) => topP(c, 0.999)],
  ['min-p 0.05', (c) => minP(c, 0.05)],
  ['min-p 0.3 on probabilities', (c) => (c.computeProbs(), minP(c, 0.3))],
  ['draw 0.37', (c) => draw(c, 0.37)],
  ['draw 0.999999', (c) => draw(c, 0.999999)],
  ['top-k 40, draw 0.5', (c) => (topK(c, 40), applyTemperature(c, 0.8), draw(c, 0.5))],
];

describe.skipIf(!native)('sampler C passes equal their TypeScript twins', () => {
  for (const [name, stage] of STAGES)
    it(name, () => {
      for (const n of SIZES)
        for (const kind of KINDS) {
          const r = row(n, kind, n * 7 + kind.length);
          const want = run(r, false, stage);
          const got = run(r, true, stage);
          expect(got, `${kind} row of ${n}`).toEqual(want);
        }
    });

  it('a seeded sampler draws the same ids with or without the C passes', () => {
    const configs: SamplerOptions[] = [
      { temperature: 1 },
      { temperature: 0.8, topP: 0.9 },
      { temperature: 0.8, topK: 40 },
      { temperature: 0.7, minP: 0.05 },
      { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.1 },
    ];
    const rows = [row(122753, 'peaked', 1), row(122753, 'gauss', 2), row(5000, 'tied', 3)];
    for (const o of configs) {
      const ids = (on: boolean) => {
        useNativeSampler(on);
        useNativeNucleus(on);
        try {
          const s = new Sampler({ ...o, seed: 11 });
          return Array.from({ length: 12 }, (_, i) => s.sample(rows[i % 3], [5, 9, 9]));
        } finally {
          useNativeSampler(true);
          useNativeNucleus(true);
        }
      };
      expect(ids(true), JSON.stringify(o)).toEqual(ids(false));
    }
  });

  it('bad arguments are typed errors that name the binding', () => {
    const K = sampleKernels()!;
    expect(() => K.sampleDraw(new Int32Array(2), new Float32Array(2), 3, 0.5)).toThrow(
      /sampleDraw.*probs|sampleDraw.*ids/,
    );
    expect(() => K.sampleDraw(new Int32Array(2), new Float32Array(2), 0, 0.5)).toThrow(RangeError);
    expect(() =>
      K.sampleHeapTopK(new Int32Array(4), new Float32Array(4), 4, 4, new Int32Array(4), new Float32Array(4)),
    ).toThrow(/sampleHeapTopK: k must be in \[1, n\)/);
    expect(() => K.sampleScale(new Float64Array(4) as unknown as Float32Array, 4, 2)).toThrow(TypeError);
  });
});

type Split = (...a: unknown[]) => void;

describe.skipIf(!native)(
  "top-p's split (native/src/nucleus.c) visits only entries that can reach the cut",
  () => {
    // The threshold is a guess: whatever it is (too high forces the full rerun), the split is the full pass's.
    it("any visiting threshold gives the full pass's split, bit for bit", () => {
      const split = (loadNativeKernels() as unknown as { nucleusSplit: Split }).nucleusSplit;
      let wide = 0; // rows whose cut bucket holds several entries
      for (const [n, kind, t, p] of [
        [122753, 'gauss', 0.8, 0.9],
        [20001, 'gauss', 2, 0.5],
        [9001, 'tied', 1, 0.95],
        [4103, 'ninf', 1, 0.999],
        [5003, 'peaked', 1, 0.9],
      ] as const) {
        const c = new Candidates(n);
        c.load(row(n, kind, n));
        applyTemperature(c, t);
        c.computeProbs();
        const m = c.maxLogit();
        const result = (guess: number) => {
          const ids = c.ids.slice(0, n);
          const logits = c.logits.slice(0, n);
          const probs = c.probs.slice(0, n);
          const cut = [new Int32Array(n), new Float32Array(n), new Float32Array(n)] as const;
          const out = new Float64Array(3);
          split(n, m, p, ids, logits, probs, new Uint16Array(n), ...cut, out, guess);
          const [w, nm] = out;
          return [
            out,
            ids.slice(0, w),
            logits.slice(0, w),
            probs.slice(0, w),
            ...cut.map((a) => a.slice(0, nm)),
          ];
        };
        const full = result(-Infinity);
        expect(full[0][0], 'the rows keep more than a handful').toBeGreaterThan(0);
        // inside the cut bucket: entries of it fall below the threshold, so only the rerun can be right
        const inCut = Array.from(full[5] as Float32Array).sort((x, y) => y - x);
        if (inCut.length > 1) wide++;
        for (const guess of [
          NaN,
          m,
          m - 0.5,
          m - 2,
          m - 4,
          m - 8,
          m - 16,
          m + 1,
          inCut[0],
          inCut[inCut.length >> 1],
          inCut[Math.max(0, inCut.length - 2)],
        ])
          expect(result(guess), `${kind} row of ${n}, threshold ${guess}`).toEqual(full);
      }
      expect(wide).toBeGreaterThanOrEqual(3);
    });
  },
);
