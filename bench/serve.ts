/**
 * Serving throughput, ours vs llama.cpp (node-llama-cpp context sequences, CPU, 2 threads), on the
 * same weights:
 *
 *   npm run bench -- serve [--layers 4] [--streams 1,4,8,16] [--prompt 32] [--decode 64] [--passes 2]
 *                          [--no-peer] [--small] [--max-wait 120] [--sampled-turns 15] [--sampled-chunk 16]
 *
 * A MiniCPM-2B-shaped model (d 2304, ff 5760, 36 heads, vocab 122753; `--layers` layers, as the infer
 * bench) with random weights, bf16 2-D weights and a bf16 KV cache (llama.cpp: a bf16 GGUF of the same
 * weights, its default f16 cache). For each concurrency N, N sequences with different prompts start
 * together and decode `--decode` greedy tokens each; the row is the aggregate decode rate: tokens after
 * each sequence's first, over the time from the last first token to the end. Ours runs through the
 * continuous-batching scheduler the server uses; llama.cpp through one context with N sequences, which
 * node-llama-cpp batches into shared decode calls. `--small` swaps in a small model to check the script.
 * Then one stream sampled (temperature 1; top-p 0.9; top-k 40) against greedy, to check that sampling
 * costs no more than 5% of decode speed at this vocabulary: short turns of each, alternated, and the
 * median of per-turn ratios (sampledVsGreedy).
 * Targets (issue 14): ≥ 1.0× the peer at every N, and ours at 8 streams ≥ 4× ours at 1.
 * Writes bench/results/serve.json. Numbers on a shared machine are noisy; the lead reruns them idle.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useBackend } from '../src/backends/index.js';
import { Sampler, type SamplerOptions } from '../src/engine/sampler.js';
import { type MiniCPMConfig } from '../src/models/config.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { Scheduler } from '../src/server/scheduler.js';
import { cast, noGrad, Rng, type Tensor } from '../src/tensor/index.js';
import { syntheticGgufVocab } from '../src/tokenizer/gguf-export.js';
import { minicpm2bShape } from './infer/shape.js';
import { median, sleep, waitIdle } from './lib/machine.js';

const THREADS = 2;

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

/** The 2B-wide bench model, or with --small the demo's width (a quick check that the bench runs). */
function shape(layers: number, small: boolean): MiniCPMConfig {
  const demoWidth = {
    vocab_size: 8192,
    hidden_size: 256,
    intermediate_size: 640,
    num_attention_heads: 4,
    num_key_value_heads: 4,
  };
  return minicpm2bShape(layers, small ? demoWidth : {});
}

function bf16Copy(m: MiniCPM): MiniCPM {
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
}

/** Aggregate decode tokens/s of N streams, from each stream's first-token and end times. */
function aggregate(firsts: number[], end: number, perStream: number): number {
  const from = Math.max(...firsts);
  return (firsts.length * (perStream - 1)) / ((end - from) / 1000);
}

/** Sampling settings of the sampled-vs-greedy rows (the server's usual non-greedy requests). */
const SAMPLED: SamplerOptions[] = [
  { temperature: 1, seed: 1 },
  { temperature: 0.8, topP: 0.9, seed: 1 },
  { temperature: 0.8, topK: 40, seed: 1 },
];

async function ours(
  model: MiniCPM,
  prompts: number[][],
  decode: number,
  sampling: SamplerOptions = { temperature: 0 },
): Promise<number> {
  const s = new Scheduler(model, { parallel: prompts.length, kvDtype: 'bf16', prefixCache: false });
  const firsts: number[] = [];
  await Promise.all(
    prompts.map((prompt, i) =>
      s.submit({
        prompt,
        maxTokens: decode,
        sampler: new Sampler(sampling),
        stopIds: [],
        onToken: () => void (firsts[i] ??= performance.now()),
      }),
    ),
  );
  const end = performance.now();
  await s.close();
  return aggregate(firsts, end, decode);
}

interface SampledRow {
  sampling: string;
  greedy: number;
  sampled: number;
  /** the median over turns of sampled / greedy tokens/s, with the lowest and highest turn */
  ratio: number;
  low: number;
  high: number;
}

/**
 * Sampled against greedy decode speed, one stream. The VM's memory bandwidth drifts by ±10% over
 * seconds, more than the 5% the issue allows, so one turn decodes `chunk` tokens (after the first) of
 * the same prompt greedily and then with each sampling setting, in an order that reverses every turn;
 * each setting's figure is the median over `turns` turns of its rate over the same turn's greedy rate.
 */
async function sampledVsGreedy(
  model: MiniCPM,
  prompt: number[][],
  turns: number,
  chunk: number,
  maxWait: number,
): Promise<SampledRow[]> {
  const settings: SamplerOptions[] = [{ temperature: 0 }, ...SAMPLED];
  const rates = settings.map(() => [] as number[]);
  await ours(model, prompt, chunk); // warm up: pool shapes, code paths
  for (let t = 0; t < turns; t++) {
    if (maxWait && t % 5 === 0) await waitIdle(maxWait);
    const order = [...settings.keys()];
    if (t % 2) order.reverse();
    for (const i of order) rates[i].push(await ours(model, prompt, chunk + 1, settings[i]));
  }
  return SAMPLED.map((sampling, j) => {
    const ratios = rates[j + 1].map((r, t) => r / rates[0][t]);
    return {
      sampling: JSON.stringify(sampling),
      greedy: median(rates[0]),
      sampled: median(rates[j + 1]),
      ratio: median(ratios),
      low: Math.min(...ratios),
      high: Math.max(...ratios),
    };
  });
}

type Nlc = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<Nlc['getLlama']>>;

async function peer(llama: Llama, file: string, prompts: number[][], decode: number): Promise<number> {
  const model = await llama.loadModel({ modelPath: file, useMmap: true });
  const per = prompts[0].length + decode + 16;
  const ctx = await model.createContext({
    sequences: prompts.length,
    contextSize: per * prompts.length,
    batchSize: Math.max(512, prompts[0].length * prompts.length),
    threads: THREADS,
  });
  try {
    const firsts: number[] = [];
    const ends: number[] = [];
    const run = async (prompt: number[], i: number) => {
      const seq = ctx.getSequence();
      type Tokens = Parameters<typeof seq.evaluate>[0];
      const tokens = seq.evaluate(prompt as unknown as Tokens, { temperature: 0 });
      for (let n = 0; n < decode; n++) {
        if ((await tokens.next()).done) throw new Error('llama.cpp stopped early');
        firsts[i] ??= performance.now();
      }
      ends[i] = performance.now();
      await tokens.return(undefined);
    };
    await Promise.all(prompts.map(run));
    return aggregate(firsts, Math.max(...ends), decode);
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

export default async function serve(args: string[]): Promise<void> {
  const small = args.includes('--small');
  const layers = Number(arg(args, 'layers', small ? '2' : '4'));
  const streams = arg(args, 'streams', '1,4,8,16').split(',').map(Number);
  const nPrompt = Number(arg(args, 'prompt', '32'));
  const decode = Number(arg(args, 'decode', '64'));
  const passes = Number(arg(args, 'passes', '2'));
  const sampledTurns = Number(arg(args, 'sampled-turns', '15'));
  const sampledChunk = Number(arg(args, 'sampled-chunk', '16'));
  const maxWait = args.includes('--no-wait') ? 0 : Number(arg(args, 'max-wait', '120'));
  useBackend('auto');
  let nlc: Nlc | undefined;
  if (!args.includes('--no-peer'))
    try {
      nlc = await import('node-llama-cpp');
    } catch (e) {
      console.warn(`PEER MISSING: node-llama-cpp does not load: ${(e as Error).message}`);
    }
  const config = shape(layers, small);
  console.log(
    `${small ? 'small' : 'MiniCPM-2B-shaped'} model, ${layers} layers, bf16 weights and KV; prompt ${nPrompt}, ` +
      `${decode} tokens per stream, streams ${streams.join('/')}, ${passes} passes`,
  );
  const f32 = MiniCPM.init(config, new Rng(1234));
  const model = bf16Copy(f32);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'minicpm-bench-serve-'));
  try {
    const file = path.join(tmp, 'm-bf16.gguf');
    if (nlc)
      await exportModelToGguf(f32, file, {
        dtype: 'bf16',
        tokenizer: syntheticGgufVocab(config.vocabSize),
        name: 'bench',
      });
    const llama = nlc ? await nlc.getLlama({ gpu: false, build: 'never' }) : undefined;
    const rng = new Rng(7);
    const rows: {
      streams: number;
      ours: number;
      peer: number | null;
      ratio: number | null;
      spread: number[][];
    }[] = [];
    for (const n of streams) {
      const prompts = Array.from({ length: n }, () =>
        Array.from({ length: nPrompt }, () => 3 + rng.int(config.vocabSize - 3)),
      );
      const o: number[] = [];
      const p: number[] = [];
      for (let pass = 0; pass < passes; pass++) {
        if (maxWait) await waitIdle(maxWait);
        // alternate who goes first, so both see the same share of what other tenants leave
        // (a pause first: the other side's spinning pool threads go to sleep)
        const runPeer = async () =>
          void (llama && (await sleep(50), p.push(await peer(llama, file, prompts, decode))));
        if (pass % 2) await runPeer();
        await sleep(50);
        o.push(await ours(model, prompts, decode));
        if (!(pass % 2)) await runPeer();
      }
      const row = {
        streams: n,
        ours: median(o),
        peer: p.length ? median(p) : null,
        ratio: p.length ? median(o) / median(p) : null,
        spread: [o, p],
      };
      rows.push(row);
      console.log(
        `  ${String(n).padStart(2)} streams: ours ${row.ours.toFixed(2)} tok/s` +
          (row.peer !== null ? `, llama.cpp ${row.peer.toFixed(2)} tok/s, ${row.ratio!.toFixed(2)}x` : ''),
      );
    }
    await llama?.dispose();
    // sampling at the speed of greedy decoding (issue 14: within 5%), one stream
    const prompt = [Array.from({ length: nPrompt }, () => 3 + rng.int(config.vocabSize - 3))];
    // --sampled-turns 0 skips the rows (a throughput-only run)
    const sampledRows =
      sampledTurns > 0 ? await sampledVsGreedy(model, prompt, sampledTurns, sampledChunk, maxWait) : [];
    for (const row of sampledRows)
      console.log(
        `  sampled ${row.sampling}: ${row.sampled.toFixed(2)} tok/s vs greedy ${row.greedy.toFixed(2)} ` +
          `(${(100 * row.ratio).toFixed(1)}%, per-turn ratios ${(100 * row.low).toFixed(1)}-${(100 * row.high).toFixed(1)}%)`,
      );
    const one = rows.find((r) => r.streams === 1)?.ours;
    const eight = rows.find((r) => r.streams === 8)?.ours;
    const eightOverOne = one && eight ? eight / one : null;
    if (eightOverOne !== null)
      console.log(`  8 streams / 1 stream (ours): ${eightOverOne.toFixed(2)}x (target ≥ 4)`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/serve.json',
      JSON.stringify(
        {
          small,
          layers,
          prompt: nPrompt,
          decode,
          passes,
          threads: THREADS,
          rows,
          eightOverOne,
          sampled: sampledRows,
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
