/**
 * Where one decoded token's time goes, outside the weight GEMVs (issues 13/14, per-token overhead):
 * the 2B-wide model (bench/infer/shape.ts) at reduced depth, bf16 weights and KV cache (or W4 through
 * the infer bench's quantized folder with --w4, or that folder at 2 bits with --w2), a prompt of --ctx tokens prefilled, then greedy
 * one-token steps. Each round times, in turn:
 *   token    one forward + the greedy pick (the sampler's, as generate and the server run it),
 *   gemv     the same projections and head alone on a kept [1, 1, d] input (the weight reads),
 *   argmax   the sampler's greedy pick over one row of logits,
 * and reports medians; "other" = token − gemv − argmax is what this issue cuts (norms, RoPE,
 * attention, KV appends, residuals, embedding, casts, allocation). It also prints the bytes a token reads
 * (weights and KV cache) as GB/s, against the DRAM read probe (bench/peers/limits.c) before and after
 * the rounds: at --layers 40 that is MiniCPM-2B's depth, which the infer bench's 4 layers are not. Run:
 *   npm run bench -- decode-step [--layers 4] [--ctx 512] [--rounds 9] [--steps 8] [--w4 | --w2]
 *     [--compare]       rounds alternate with the previous step (portable attention, copied JS pick)
 *     [--kernels]       wall time per addon function during the token rounds
 *     [--profile FILE]  a V8 CPU profile of the timed rounds   [--token-only]  skip gemv/argmax rows
 *     [--tiny]          width 256, vocabulary 1,024: the token is the per-op overhead alone
 *     [--threads N]     the pool's size (1: the CPU time per token is the step's own work)
 * Timings on a shared machine are noisy: compare rows of one run only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { useBackend } from '../src/backends/index.js';
import { useDecodeAttention } from '../src/backends/cpu/native-nn.js';
import { loadNativeKernels } from '../src/backends/kernels-native.js';
import { Sampler } from '../src/engine/sampler.js';
import { KVCache } from '../src/models/kv-cache.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { cast, linears, noGrad, Rng, scope, slice, Tensor } from '../src/tensor/index.js';
import { loadGptq, writeGptqFolder } from './infer/quantized.js';
import { type DecodeBytes, kvDecodeBytes, layerParams, minicpm2bShape } from './infer/shape.js';
import { limitsProbeServer } from './lib/machine.js';

/** This run's arguments (after the bench name). */
let argv: string[] = [];

function arg(name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function bf16Copy(m: MiniCPM): MiniCPM {
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
}

/** Last row of logits [1, 1, V] as a Float32Array view (no copy). */
function lastRow(logits: Tensor): Float32Array {
  const V = logits.shape[2];
  return (logits.data as Float32Array).subarray(logits.offset, logits.offset + V);
}

/** The decode step's projections alone, through the model's own runner (so W4 runs its kernels). */
function gemvOnly(model: MiniCPM, x: Tensor, xff: Tensor): void {
  const run = (m: MiniCPM, inp: Tensor, mods: string[]) =>
    // project() is private; the runner or linears is what it calls
    m.linearRunner?.run(inp, mods) ??
    linears(
      inp,
      mods.map((mod) => m.p(`${mod}.weight`)),
    );
  for (let l = 0; l < model.config.numLayers; l++) {
    const a = `model.layers.${l}.self_attn`;
    const f = `model.layers.${l}.mlp`;
    scope(() => {
      run(model, x, [`${a}.q_proj`, `${a}.k_proj`, `${a}.v_proj`]);
      run(model, x, [`${a}.o_proj`]);
      run(model, x, [`${f}.gate_proj`, `${f}.up_proj`]);
      run(model, xff, [`${f}.down_proj`]);
    });
  }
  scope(() => model.logitsFromHidden(x));
}

/**
 * --kernels: every function of the addon wrapped to add its wall time to a per-name total while
 * `on` (installed before the backend is made, so every caller holds the wrapped ones).
 */
const kernelMs = new Map<string, { ms: number; calls: number }>();
let kernelTiming = false;
function wrapKernels(): void {
  const k = loadNativeKernels() as unknown as Record<string, unknown> | null;
  if (!k) return;
  for (const [name, f] of Object.entries(k)) {
    if (typeof f !== 'function') continue;
    const fn = f as (...a: unknown[]) => unknown;
    k[name] = (...a: unknown[]) => {
      if (!kernelTiming) return fn(...a);
      const t0 = performance.now();
      const r = fn(...a);
      const e = kernelMs.get(name) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      kernelMs.set(name, e);
      return r;
    };
  }
}

export default async function decodeStep(args: string[]): Promise<void> {
  argv = args;
  if (argv.includes('--kernels')) wrapKernels();
  // the DRAM read probe's child, started while this process is small (limitsProbeServer says why)
  const probe = limitsProbeServer();
  const backend = useBackend('auto');
  // --threads N: the pool's size (with 1, the process's CPU time per token is the step's own work,
  // which a loaded machine disturbs far less than the wall time)
  const threads = arg('threads', 0);
  if (threads > 0) loadNativeKernels()?.setThreads(threads);
  const layers = arg('layers', 4);
  const ctx = arg('ctx', 512);
  const rounds = arg('rounds', 9);
  const steps = arg('steps', 8);
  const w2 = argv.includes('--w2');
  const w4 = argv.includes('--w4') || w2;
  // --token-only: time tokens alone (e.g. under node --cpu-prof, so the profile is the decode step's)
  const tokenOnly = argv.includes('--token-only');
  // --tiny: the same layer structure at width 256 and a 1,024-token vocabulary, so the weight reads
  // vanish and a token's time is the per-op cost alone (dispatch, allocation, small kernels)
  const tiny = argv.includes('--tiny');
  const config = minicpm2bShape(
    layers,
    tiny
      ? {
          hidden_size: 256,
          intermediate_size: 640,
          num_attention_heads: 4,
          num_key_value_heads: 4,
          vocab_size: 1024,
        }
      : {},
  );
  const f32 = MiniCPM.init(config, new Rng(1));
  let model: MiniCPM;
  let tmp: string | null = null;
  // weight bytes one token reads: the W4 runner's codes, scales and zeros (int8 head), or bf16 matrices
  let weightBytes: DecodeBytes = {
    layers: layerParams(config) * 2,
    head: config.vocabSize * config.hiddenSize * 2,
  };
  if (w4) {
    tmp = mkdtempSync(path.join(tmpdir(), 'decode-step-'));
    await writeGptqFolder(f32, tmp, w2 ? 2 : 4);
    f32.parameters().forEach((t) => t.dispose());
    const loaded = await loadGptq(tmp);
    model = loaded.model;
    weightBytes = loaded.bytes;
  } else {
    model = bf16Copy(f32);
    for (const [n, t] of f32.params) {
      if (t.rank !== 2) continue;
      t.dispose();
      f32.params.delete(n);
    }
  }
  console.log(
    `${backend.name}; ${layers} layers, ${w4 ? `W${w2 ? 2 : 4} g32 + int8 head` : 'bf16'} weights, bf16 KV, ctx ${ctx}`,
  );
  const c = config;
  const rng = new Rng(2);
  const prompt = Array.from({ length: ctx }, () => Math.floor(rng.uniform() * c.vocabSize));
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, ctx + 2 * rounds * steps + 8, 'bf16');
  const sampler = new Sampler({ greedy: true });
  let next = noGrad(() =>
    scope(() => {
      const h = model.hidden(Tensor.from(Int32Array.from(prompt), [1, ctx], 'i32'), cache);
      return sampler.sample(lastRow(model.logitsFromHidden(slice(h, 1, ctx - 1, ctx))));
    }),
  );
  const x = Tensor.from(new Float32Array(c.hiddenSize).fill(0.01), [1, 1, c.hiddenSize]).keep();
  const xff = Tensor.from(new Float32Array(c.intermediateSize).fill(0.01), [1, 1, c.intermediateSize]).keep();
  const row = noGrad(() =>
    scope(() => lastRow(model.forward(Tensor.from(Int32Array.of(next), [1, 1], 'i32'), cache)).slice()),
  );
  cache.truncate(cache.length - 1);
  // --profile FILE: a V8 CPU profile of the timed rounds only (not the model's set-up or prefill)
  const profIdx = argv.indexOf('--profile');
  const session = profIdx >= 0 ? new Session() : null;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session!.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
    );
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 }); // µs: a token makes ~200 JS calls
    await post('Profiler.start');
  }
  const token: number[] = [];
  const gemv: number[] = [];
  const pick: number[] = [];
  // --compare: rounds alternate with the previous decode step (portable attention kernel, the
  // sampler's old greedy path: the row copied into a candidate buffer, then a JavaScript scan)
  const compare = argv.includes('--compare');
  const oldToken: number[] = [];
  const cpu: Record<'new' | 'old', number[]> = { new: [], old: [] };
  const buf = new Float32Array(c.vocabSize);
  const oldPick = (r: Float32Array): number => {
    buf.set(r);
    let best = 0;
    let bv = buf[0];
    for (let i = 1; i < r.length; i++)
      if (buf[i] > bv) {
        bv = buf[i];
        best = i;
      }
    return best;
  };
  const decodeRound = (old: boolean): number => {
    useDecodeAttention(!old);
    const pickOf = old ? oldPick : (r: Float32Array) => sampler.sample(r);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let s = 0; s < steps; s++)
      next = scope(() =>
        pickOf(lastRow(model.forward(Tensor.from(Int32Array.of(next), [1, 1], 'i32'), cache))),
      );
    const u = process.cpuUsage(c0);
    cpu[old ? 'old' : 'new'].push((u.user + u.system) / 1000 / steps);
    return (performance.now() - t0) / steps;
  };
  const readProbe = async () => (probe ? await probe.probe('read', '2', String(256 << 20)) : NaN);
  const dramBefore = await readProbe();
  noGrad(() => {
    for (let r = 0; r < rounds; r++) {
      kernelTiming = true;
      token.push(decodeRound(false));
      kernelTiming = false;
      if (compare) oldToken.push(decodeRound(true));
      useDecodeAttention(true);
      if (tokenOnly) continue;
      let t0 = performance.now();
      for (let s = 0; s < steps; s++) gemvOnly(model, x, xff);
      gemv.push((performance.now() - t0) / steps);
      t0 = performance.now();
      for (let s = 0; s < steps * 4; s++) next = (next + sampler.sample(row)) % c.vocabSize;
      pick.push((performance.now() - t0) / (steps * 4));
    }
  });
  const dramAfter = await readProbe();
  probe?.close();
  if (session) {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(argv[profIdx + 1], JSON.stringify(profile));
    session.disconnect();
  }
  const [t, g, p] = [median(token), tokenOnly ? 0 : median(gemv), tokenOnly ? 0 : median(pick)];
  const pct = (v: number) => `${((100 * v) / t).toFixed(1)}%`;
  console.log(
    `token ${t.toFixed(2)} ms (${(1000 / t).toFixed(2)} tok/s), medians of ${rounds} rounds × ${steps} steps; ` +
      `CPU ${median(cpu.new).toFixed(3)} ms/token`,
  );
  // the bytes a token reads: every weight once and the KV cache over the timed steps' mean length
  const kvBytes = kvDecodeBytes(
    KVCache.bytesPerPosition('bf16', c.numLayers, c.numKvHeads, c.headDim),
    ctx,
    (compare ? 2 : 1) * rounds * steps,
  );
  const bytes = weightBytes.layers + weightBytes.head + kvBytes;
  const rate = bytes / (t / 1000) / 1e9;
  const dram = (dramBefore + dramAfter) / 2;
  console.log(
    `  reads ${(bytes / 1e9).toFixed(3)} GB a token (layers ${(weightBytes.layers / 1e9).toFixed(3)}, head ` +
      `${(weightBytes.head / 1e9).toFixed(3)}, KV ${(kvBytes / 1e9).toFixed(3)}): ${rate.toFixed(1)} GB/s` +
      (Number.isFinite(dram)
        ? `; DRAM read probe ${dramBefore.toFixed(1)} before, ${dramAfter.toFixed(1)} after: ${(rate / dram).toFixed(2)} of it`
        : ''),
  );
  console.log(`  weight GEMVs ${g.toFixed(2)} ms (${pct(g)})`);
  console.log(`  greedy pick  ${p.toFixed(3)} ms (${pct(p)})`);
  console.log(`  other        ${(t - g - p).toFixed(2)} ms (${pct(t - g - p)})`);
  if (compare) {
    const [o, co, cn] = [median(oldToken), median(cpu.old), median(cpu.new)];
    console.log(
      `old step ${o.toFixed(2)} ms (${(1000 / o).toFixed(2)} tok/s) vs new ${t.toFixed(2)} ms: ${(o / t).toFixed(3)}x; ` +
        `CPU time per token ${co.toFixed(2)} vs ${cn.toFixed(2)} ms (rounds interleaved, medians)`,
    );
  }
  const perToken = rounds * steps;
  for (const [name, e] of [...kernelMs].sort((a, b) => b[1].ms - a[1].ms))
    console.log(
      `  kernel ${name.padEnd(20)} ${(e.ms / perToken).toFixed(3)} ms/token, ${(e.calls / perToken).toFixed(1)} calls`,
    );
  if (kernelMs.size) {
    // the JavaScript between the native calls: op dispatch, tensor and view creation, scopes, GC
    const all = [...kernelMs.values()];
    const inNative = all.reduce((s, e) => s + e.ms, 0) / perToken;
    const calls = all.reduce((s, e) => s + e.calls, 0) / perToken;
    const tokenMean = token.reduce((s, v) => s + v, 0) / token.length;
    console.log(
      `  ${calls.toFixed(1)} native calls per token, ${inNative.toFixed(3)} ms in them; ` +
        `between them ${(tokenMean - inNative).toFixed(3)} ms per token (${((1000 * (tokenMean - inNative)) / calls).toFixed(1)} µs per call; means, timing wrappers included)`,
    );
  }
  cache.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

// run directly (node --import tsx bench/decode-step.ts ...) as well as through bench/run.ts
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  await decodeStep(process.argv.slice(2));
