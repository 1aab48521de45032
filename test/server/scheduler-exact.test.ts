/**
 * Continuous batching is exact: every request's tokens equal running it alone (greedy, and sampled
 * with its seed), whatever runs beside it — staggered arrivals, different lengths, chunked prefills,
 * cancellations and prefix-cache hits — and slots and KV are returned when sequences end.
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { Sampler, type SamplerOptions } from '../../src/engine/sampler.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { quantizeModel } from '../../src/quant/quantize-model.js';
import {
  Scheduler,
  SchedulerBusyError,
  SchedulerError,
  type SchedulerOptions,
} from '../../src/server/scheduler.js';
import { cast, noGrad, Rng, type Tensor } from '../../src/tensor/index.js';

useBackend('auto');
const V = 300;
const model = MiniCPM.init(
  { ...presetConfig('tiny', V), hiddenSize: 128, intermediateSize: 320 },
  new Rng(9),
);
/** The same model with bf16 2-D weights and a K (344 = 10·32 + 24) that ends in the bf16 row kernel's masked tail. */
const bf16Model = (() => {
  const m = MiniCPM.init({ ...presetConfig('tiny', V), hiddenSize: 128, intermediateSize: 344 }, new Rng(9));
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
})();
/** W4 linears (GPTQ on random calibration): the quantized kernels keep every row's result too. */
const w4Model = (() => {
  const m = MiniCPM.init({ ...presetConfig('tiny', V), hiddenSize: 128, intermediateSize: 320 }, new Rng(9));
  const r = new Rng(11);
  quantizeModel(m, [Array.from({ length: 64 }, () => 1 + r.int(V - 1))], { bits: 4, groupSize: 32 });
  return m;
})();
const rng = new Rng(4);
const randomPrompt = (n: number) => Array.from({ length: n }, () => 1 + rng.int(V - 1));

interface Job {
  prompt: number[];
  maxTokens: number;
  sampling: SamplerOptions;
  /** Cancel after this many tokens. */
  cancelAfter?: number;
}

/** Bitwise fingerprint of a logits row (equal rows ⇔ equal strings, up to hash collisions). */
function fingerprint(row: Float32Array): string {
  const u = new Uint32Array(row.buffer, row.byteOffset, row.length);
  let h1 = 0x811c9dc5;
  let h2 = 0;
  for (let i = 0; i < u.length; i++) {
    h1 = Math.imul(h1 ^ u[i], 0x01000193);
    h2 = (h2 + Math.imul(u[i], i + 1)) | 0;
  }
  return `${(h1 >>> 0).toString(16)}:${(h2 >>> 0).toString(16)}`;
}

/** Logits fingerprints of every run, by prompt (filled by `run`). */
let logitsLog = new Map<string, string[]>();

/**
 * Runs `job` through `s`; `onCount(n)` is called after its n-th token (to stagger other arrivals).
 * The logits row of every token is fingerprinted into `logitsLog`, so runs compare bit for bit.
 */
async function run(s: Scheduler, job: Job, onCount?: (n: number) => void): Promise<number[]> {
  const out: number[] = [];
  const rows: string[] = [];
  logitsLog.set(job.prompt.join(','), rows);
  const abort = new AbortController();
  await s.submit({
    prompt: job.prompt,
    maxTokens: job.maxTokens,
    sampler: new Sampler(job.sampling),
    stopIds: [],
    signal: abort.signal,
    onToken: (id, logits) => {
      out.push(id);
      rows.push(fingerprint(logits));
      onCount?.(out.length);
      if (job.cancelAfter !== undefined && out.length >= job.cancelAfter) abort.abort();
    },
  });
  return out;
}

/** The job alone on a server with the same prefill chunk (the one setting exactness depends on). */
const alone =
  (prefillChunk: number, m: MiniCPM = model) =>
  (job: Job) =>
    run(new Scheduler(m, { parallel: 1, prefixCache: false, prefillChunk }), {
      ...job,
      cancelAfter: undefined,
    });

/** Starts job i once job i−1 has produced `stagger` tokens (all at once for 0). */
async function staggered(s: Scheduler, jobs: Job[], stagger: number): Promise<number[][]> {
  const results: (Promise<number[]> | undefined)[] = [];
  const start = (i: number) => {
    if (i >= jobs.length || results[i] !== undefined) return;
    const r = run(s, jobs[i], (n) => n === stagger && start(i + 1));
    results[i] = r;
    // a job that ends (or is cancelled) early still lets the next one in
    void r.then(() => start(i + 1));
  };
  if (stagger === 0) jobs.forEach((_, i) => start(i));
  else start(0);
  while (results.length < jobs.length) await new Promise((r) => setTimeout(r, 5));
  return Promise.all(results as Promise<number[]>[]);
}

describe.each([
  ['f32', model],
  ['bf16', bf16Model],
  ['W4', w4Model],
])('continuous batching equals running alone (%s weights)', (_dtype, model) => {
  const greedy = { temperature: 0 };
  const jobs: Job[] = [
    { prompt: randomPrompt(13), maxTokens: 12, sampling: greedy },
    { prompt: randomPrompt(3), maxTokens: 20, sampling: { temperature: 0.9, topP: 0.95, seed: 1 } },
    { prompt: randomPrompt(1), maxTokens: 9, sampling: greedy },
    { prompt: randomPrompt(29), maxTokens: 6, sampling: { temperature: 1.2, topK: 20, seed: 2 } },
    { prompt: randomPrompt(7), maxTokens: 16, sampling: greedy, cancelAfter: 4 },
    { prompt: randomPrompt(2), maxTokens: 11, sampling: { temperature: 0.7, minP: 0.05, seed: 3 } },
    { prompt: randomPrompt(40), maxTokens: 8, sampling: greedy },
    { prompt: randomPrompt(5), maxTokens: 14, sampling: { temperature: 1, repetitionPenalty: 1.3, seed: 4 } },
  ];

  const configs: [string, SchedulerOptions, number][] = [
    ['4 slots, 6-token prefill chunks, staggered by 2 tokens', { parallel: 4, prefillChunk: 6 }, 2],
    ['8 slots, all at once', { parallel: 8, prefillChunk: 16 }, 0],
    ['3 slots, 2-token chunks, staggered by 5', { parallel: 3, prefillChunk: 2 }, 5],
    ['6 slots, tight KV budget (requests wait for KV)', { parallel: 6, prefillChunk: 9, kvBudget: 60 }, 1],
  ];

  it.each(configs)('%s', async (_name, opts, stagger) => {
    logitsLog = new Map();
    const want = await Promise.all(jobs.map(alone(opts.prefillChunk!, model)));
    const wantLogits = logitsLog;
    logitsLog = new Map();
    const s = new Scheduler(model, opts);
    const got = await staggered(s, jobs, stagger);
    jobs.forEach((job, i) => {
      // the logits themselves are bitwise equal, not just the tokens picked from them
      const key = job.prompt.join(',');
      expect(logitsLog.get(key), `job ${i} logits`).toEqual(wantLogits.get(key)!.slice(0, got[i].length));
      if (job.cancelAfter !== undefined) {
        expect(got[i].length, `job ${i} cancelled`).toBe(job.cancelAfter);
        expect(got[i]).toEqual(want[i].slice(0, job.cancelAfter));
      } else expect(got[i], `job ${i}`).toEqual(want[i]);
    });
    const st = s.stats();
    expect([st.active, st.queued, st.kvReserved]).toEqual([0, 0, 0]);
    expect(st.prefixTokens).toBeLessThanOrEqual(st.kvBudget);
  });

  it('prefix-cache hits (shared system prompt, repeated prompts) change no token', async () => {
    const system = randomPrompt(24);
    const shared: Job[] = [
      { prompt: [...system, ...randomPrompt(4)], maxTokens: 10, sampling: greedy },
      { prompt: [...system, ...randomPrompt(9)], maxTokens: 10, sampling: { temperature: 0.8, seed: 5 } },
      { prompt: [...system, ...randomPrompt(2)], maxTokens: 10, sampling: greedy },
      { prompt: [...system, ...randomPrompt(4)].slice(0, 26), maxTokens: 10, sampling: greedy },
    ];
    shared.push({ ...shared[0] }); // the same prompt again
    logitsLog = new Map();
    const want = await Promise.all(shared.map(alone(8, model)));
    const wantLogits = logitsLog;
    logitsLog = new Map();
    const s = new Scheduler(model, { parallel: 2, prefillChunk: 8 });
    const got: number[][] = [];
    for (const job of shared) got.push(await run(s, job)); // one after another: every later one hits
    expect(got).toEqual(want);
    expect(logitsLog).toEqual(wantLogits);
    expect(s.stats().prefixHits).toBe(shared.length - 1);
  });
});

describe('scheduler limits', () => {
  const job = (n: number, maxTokens = 4): Job => ({
    prompt: randomPrompt(n),
    maxTokens,
    sampling: { temperature: 0 },
  });

  it('a full queue is refused with a retry hint; a request larger than the KV budget is refused', async () => {
    const s = new Scheduler(model, { parallel: 1, maxQueue: 1 });
    const a = run(s, job(5, 30));
    const b = run(s, job(5));
    await expect(run(s, job(5))).rejects.toThrow(SchedulerBusyError);
    await Promise.all([a, b]);
    const small = new Scheduler(model, { kvBudget: 10 });
    await expect(run(small, job(8, 4))).rejects.toThrow(/KV budget is 10/);
    expect(() => new Scheduler(model, { prefillChunk: 1 })).toThrow(SchedulerError);
  });

  it('a request cancelled while waiting never runs; close refuses new work', async () => {
    const s = new Scheduler(model, { parallel: 1 });
    const first = run(s, job(4, 20));
    const abort = new AbortController();
    let tokens = 0;
    const waiting = s.submit({
      prompt: randomPrompt(4),
      maxTokens: 5,
      sampler: new Sampler({ temperature: 0 }),
      stopIds: [],
      signal: abort.signal,
      onToken: () => void tokens++,
    });
    abort.abort();
    expect((await waiting).finish).toBe('cancelled');
    expect(tokens).toBe(0);
    await first;
    await s.close();
    await expect(run(s, job(3))).rejects.toThrow(/shutting down/);
  });
});
