/**
 * LLM inference, ours vs llama.cpp (node-llama-cpp, CPU, 2 threads), on the same weights:
 *
 *   npm run bench -- infer [--layers 4] [--passes 3] [--prompt 512] [--decode 128] [--max-wait 120] [--no-wait] [--no-rss]
 *
 * A MiniCPM-2B-shaped model (d 2304, ff 5760, 36 heads, vocab 122753, tied head; only `--layers` layers so
 * a pass fits the time) with random weights from MiniCPM.init is exported with our GGUF writer (f32, and
 * bf16 for the peer) and loaded by llama.cpp in the same run. Prefill: `--prompt` tokens in one call, logits
 * of the last position only (as llama.cpp computes them). Decode: `--decode` single-token steps with a
 * KV cache after the prompt. Our bf16 rows keep 2-D weights in bf16 (f32 activations, vdpbf16ps). Noise: wait for idle CPUs before each pass; medians of the passes.
 * Decode rows report the fraction of the memory-bandwidth bound: weight bytes read per token (every
 * matrix once + the tied head) ÷ 55 GB/s, and against 30 GB/s (typical 2-thread reads measured here).
 * Also: our peak RSS loading a bf16 safetensors checkpoint of the same model (a child process).
 * Writes bench/results/infer.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/backends/index.js';
import { castFloat } from '../src/io/dtypes.js';
import { writeJson } from '../src/io/hf-folder.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { configFromHF, configToHF, type MiniCPMConfig } from '../src/models/config.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { KVCache } from '../src/models/kv-cache.js';
import { loadModel } from '../src/models/load.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { tensorToRecord } from '../src/models/weights.js';
import { cast, noGrad, Rng, scope, slice, Tensor } from '../src/tensor/index.js';
import { syntheticGgufVocab } from '../src/tokenizer/gguf-export.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BANDWIDTH = 55e9;
const BANDWIDTH_TYPICAL = 30e9;
const THREADS = 2;

interface Row {
  name: string;
  unit: string;
  ours: number | null;
  peer: string;
  peer_value: number | null;
  ratio: number | null;
  limit_fraction: number | null;
  limit_fraction_typical?: number | null;
  peer_limit_fraction?: number | null;
  note?: string;
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[(s.length - 1) >> 1] : NaN;
};

async function busyFraction(ms = 500): Promise<number> {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = sample();
    await sleep(ms);
    const b = sample();
    return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
  } catch {
    return 0;
  }
}

async function waitIdle(maxS: number, threshold = 0.12): Promise<number> {
  const t0 = Date.now();
  let busy = await busyFraction();
  while (busy > threshold && Date.now() - t0 < maxS * 1000) {
    process.stdout.write(`\r  waiting for an idle machine (busy ${(busy * 100).toFixed(0)}%) ...   `);
    await sleep(2000);
    busy = await busyFraction();
  }
  if (Date.now() - t0 > 600) process.stdout.write('\n');
  return busy;
}

function minicpm2bShape(layers: number): MiniCPMConfig {
  return configFromHF({
    model_type: 'minicpm',
    vocab_size: 122753,
    hidden_size: 2304,
    intermediate_size: 5760,
    num_hidden_layers: layers,
    num_attention_heads: 36,
    num_key_value_heads: 36,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    scale_emb: 12,
    scale_depth: 1.4,
    dim_model_base: 256,
    initializer_range: 0.1,
    bos_token_id: 1,
    eos_token_id: 2,
  });
}

/** Matrix parameters (incl. the embedding, read once per token as the tied head). */
function matrixParams(c: MiniCPMConfig): number {
  const d = c.hiddenSize;
  const perLayer =
    2 * d * c.numHeads * c.headDim + 2 * d * c.numKvHeads * c.headDim + 3 * d * c.intermediateSize;
  return c.numLayers * perLayer + c.vocabSize * d;
}

/** Forward FLOPs of `T` new tokens at position `pos`, logits for `logitRows` rows (2·params + attention). */
function forwardFlops(c: MiniCPMConfig, T: number, pos: number, logitRows: number): number {
  const layerParams = matrixParams(c) - c.vocabSize * c.hiddenSize;
  let attn = 0; // QKᵀ and PV over the causal span
  for (let t = 0; t < T; t++) attn += 4 * c.numHeads * c.headDim * (pos + t + 1);
  return 2 * T * layerParams + c.numLayers * attn + 2 * logitRows * c.vocabSize * c.hiddenSize;
}

// ---------- ours ----------

function oursPass(model: MiniCPM, prompt: number[], nDecode: number): { prefillS: number; decodeS: number } {
  const c = model.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, prompt.length + nDecode + 8);
  try {
    return noGrad(() => {
      const t0 = performance.now();
      let next = scope(() => {
        const h = model.hidden(Tensor.from(Int32Array.from(prompt), [1, prompt.length], 'i32'), cache);
        const logits = model.logitsFromHidden(slice(h, 1, prompt.length - 1, prompt.length));
        return argmax(logits);
      });
      const t1 = performance.now();
      for (let i = 0; i < nDecode; i++) {
        next = scope(() => argmax(model.forward(Tensor.from(Int32Array.of(next), [1, 1], 'i32'), cache)));
      }
      const t2 = performance.now();
      return { prefillS: (t1 - t0) / 1000, decodeS: (t2 - t1) / 1000 };
    });
  } finally {
    cache.dispose();
  }
}

function argmax(logits: Tensor): number {
  const V = logits.shape[logits.shape.length - 1];
  const data = logits.toArray();
  let best = data.length - V;
  for (let i = best + 1; i < data.length; i++) if (data[i] > data[best]) best = i;
  return best - (data.length - V);
}

// ---------- peer ----------

type Nlc = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<Nlc['getLlama']>>;

async function peerPass(
  llama: Llama,
  file: string,
  prompt: number[],
  nDecode: number,
): Promise<{ prefillS: number; decodeS: number }> {
  const model = await llama.loadModel({ modelPath: file, useMmap: true });
  const ctx = await model.createContext({
    contextSize: prompt.length + nDecode + 64,
    batchSize: prompt.length,
    threads: THREADS,
  });
  try {
    const seq = ctx.getSequence();
    type Tokens = Parameters<typeof seq.evaluateWithoutGeneratingNewTokens>[0];
    // warm the weights into the page cache, then start over
    await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 8) as unknown as Tokens);
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt as unknown as Tokens);
    const t1 = performance.now();
    // decode: the first generated token costs one step (it evaluates the last prompt token's successor)
    let n = 0;
    const t2 = performance.now();
    for await (const _tok of seq.evaluate([prompt[prompt.length - 1]] as unknown as Tokens, {
      temperature: 0,
    })) {
      if (++n >= nDecode) break;
    }
    const t3 = performance.now();
    return { prefillS: (t1 - t0) / 1000, decodeS: (t3 - t2) / 1000 };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

/** The same model with every 2-D weight stored bf16 (f32 activations; GEMMs through vdpbf16ps). */
function bf16Copy(m: MiniCPM): MiniCPM {
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
}

// ---------- RSS child ----------

async function rssChild(dir: string): Promise<void> {
  useBackend('auto');
  const before = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const m = await loadModel(dir, { weightDtype: 'bf16' });
  const s = (performance.now() - t0) / 1000;
  const r = process.resourceUsage().maxRSS; // KiB
  // Linux keeps ru_maxrss across fork+exec, so in a child of a big process maxRSS starts at the parent's
  // size; VmHWM (/proc/self/status) belongs to this process's own address space and is the real peak.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  console.log(
    JSON.stringify({
      peakRssMiB: hwm ? Number(hwm) / 1024 : null,
      maxRssMiB: r / 1024,
      maxRssBeforeLoadMiB: before / 1024,
      loadS: s,
      params: m.params.size,
    }),
  );
}

export default async function infer(args: string[]): Promise<void> {
  const rc = args.indexOf('--rss-child');
  if (rc >= 0) return rssChild(args[rc + 1]);
  const layers = arg(args, 'layers', 4);
  const passes = arg(args, 'passes', 3);
  const nPrompt = arg(args, 'prompt', 512);
  const nDecode = arg(args, 'decode', 128);
  const maxWait = args.includes('--no-wait') ? 0 : arg(args, 'max-wait', 120);

  let nlc: Nlc | undefined;
  let peerMissing = '';
  try {
    nlc = await import('node-llama-cpp');
  } catch (e) {
    peerMissing = `node-llama-cpp is not installed (npm i -D node-llama-cpp): ${(e as Error).message}`;
    console.warn(`PEER MISSING: ${peerMissing}`);
  }

  useBackend('auto');
  const config = minicpm2bShape(layers);
  const weightsF32 = matrixParams(config) * 4;
  const weightsBf16 = matrixParams(config) * 2;
  console.log(
    `MiniCPM-2B-shaped, ${layers} layers: ${(matrixParams(config) / 1e6).toFixed(0)}M matrix params, ` +
      `${(weightsF32 / 1e9).toFixed(2)} GB f32 read per decoded token; prompt ${nPrompt}, decode ${nDecode}, ${THREADS} threads`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'minicpm-bench-infer-'));
  try {
    const t0 = performance.now();
    const model = MiniCPM.init(config, new Rng(1234));
    console.log(`  init ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const vocab = syntheticGgufVocab(config.vocabSize);
    const files = { f32: path.join(tmp, 'm-f32.gguf'), bf16: path.join(tmp, 'm-bf16.gguf') };
    for (const dt of ['f32', 'bf16'] as const) {
      const t = performance.now();
      await exportModelToGguf(model, files[dt], { dtype: dt, tokenizer: vocab, name: 'bench' });
      console.log(
        `  exported ${dt} GGUF ${(statSync(files[dt]).size / 1e9).toFixed(2)} GB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const modelBf16 = bf16Copy(model);
    let s = 99;
    const prompt = Array.from(
      { length: nPrompt },
      () => 3 + (((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % (config.vocabSize - 3)),
    );

    const llama = nlc ? await nlc.getLlama({ gpu: false, build: 'never' }) : undefined;
    const S = {
      ours: { prefill: [] as number[], decode: [] as number[] },
      oursBf16: { prefill: [] as number[], decode: [] as number[] },
      f32: { prefill: [] as number[], decode: [] as number[] },
      bf16: { prefill: [] as number[], decode: [] as number[] },
    };
    for (let p = 0; p < passes; p++) {
      const busy = maxWait ? await waitIdle(maxWait) : 0;
      const o = oursPass(model, prompt, nDecode);
      S.ours.prefill.push(o.prefillS);
      S.ours.decode.push(o.decodeS);
      if (maxWait) await waitIdle(maxWait);
      const ob = oursPass(modelBf16, prompt, nDecode);
      S.oursBf16.prefill.push(ob.prefillS);
      S.oursBf16.decode.push(ob.decodeS);
      let line = `  pass ${p + 1} (busy ${(busy * 100).toFixed(0)}%): ours prefill ${o.prefillS.toFixed(2)} s, decode ${(nDecode / o.decodeS).toFixed(2)} tok/s; ours bf16 prefill ${ob.prefillS.toFixed(2)} s, decode ${(nDecode / ob.decodeS).toFixed(2)} tok/s`;
      if (llama) {
        for (const dt of ['f32', 'bf16'] as const) {
          if (maxWait) await waitIdle(maxWait);
          const r = await peerPass(llama, files[dt], prompt, nDecode);
          S[dt].prefill.push(r.prefillS);
          S[dt].decode.push(r.decodeS);
          line += `; llama.cpp ${dt} prefill ${r.prefillS.toFixed(2)} s, decode ${(nDecode / r.decodeS).toFixed(2)} tok/s`;
        }
      }
      console.log(line);
    }
    await llama?.dispose();

    const prefillFlops = forwardFlops(config, nPrompt, 0, 1);
    const gflops = (xs: number[]) => (xs.length ? prefillFlops / median(xs) / 1e9 : null);
    const tokps = (xs: number[]) => (xs.length ? nDecode / median(xs) : null);
    const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
    const peerName = nlc ? 'llama.cpp' : `llama.cpp (missing: ${peerMissing})`;
    const PEAK_F32 = 400e9;
    const PEAK_BF16 = 800e9;
    const oursPre = gflops(S.ours.prefill);
    const oursDec = tokps(S.ours.decode);
    const oursPreB = gflops(S.oursBf16.prefill);
    const oursDecB = tokps(S.oursBf16.decode);
    const rows: Row[] = [
      {
        name: `prefill ${nPrompt} f32`,
        unit: 'GFLOP/s',
        ours: oursPre,
        peer: peerName,
        peer_value: gflops(S.f32.prefill),
        ratio: ratio(oursPre, gflops(S.f32.prefill)),
        limit_fraction: oursPre !== null ? (oursPre * 1e9) / PEAK_F32 : null,
        note: `${(prefillFlops / 1e9).toFixed(0)} GFLOP per prefill (last-position logits); limit 400 GFLOP/s fp32 (2 cores)`,
      },
      {
        name: `decode ${nDecode} f32`,
        unit: 'tok/s',
        ours: oursDec,
        peer: peerName,
        peer_value: tokps(S.f32.decode),
        ratio: ratio(oursDec, tokps(S.f32.decode)),
        limit_fraction: oursDec !== null ? (oursDec * weightsF32) / BANDWIDTH : null,
        limit_fraction_typical: oursDec !== null ? (oursDec * weightsF32) / BANDWIDTH_TYPICAL : null,
        peer_limit_fraction:
          tokps(S.f32.decode) !== null ? (tokps(S.f32.decode)! * weightsF32) / BANDWIDTH : null,
        note: `${(weightsF32 / 1e9).toFixed(2)} GB of weights per token; bound ${(BANDWIDTH / weightsF32).toFixed(1)} tok/s at 55 GB/s (limit_fraction_typical: 30 GB/s)`,
      },
      {
        name: `prefill ${nPrompt} bf16`,
        unit: 'GFLOP/s',
        ours: oursPreB,
        peer: peerName,
        peer_value: gflops(S.bf16.prefill),
        ratio: ratio(oursPreB, gflops(S.bf16.prefill)),
        limit_fraction: oursPreB !== null ? (oursPreB * 1e9) / PEAK_BF16 : null,
        peer_limit_fraction:
          gflops(S.bf16.prefill) !== null ? (gflops(S.bf16.prefill)! * 1e9) / PEAK_BF16 : null,
        note: 'bf16 weights, f32 activations (vdpbf16ps GEMMs); limit 800 GFLOP/s bf16 (2 cores)',
      },
      {
        name: `decode ${nDecode} bf16`,
        unit: 'tok/s',
        ours: oursDecB,
        peer: peerName,
        peer_value: tokps(S.bf16.decode),
        ratio: ratio(oursDecB, tokps(S.bf16.decode)),
        limit_fraction: oursDecB !== null ? (oursDecB * weightsBf16) / BANDWIDTH : null,
        limit_fraction_typical: oursDecB !== null ? (oursDecB * weightsBf16) / BANDWIDTH_TYPICAL : null,
        peer_limit_fraction:
          tokps(S.bf16.decode) !== null ? (tokps(S.bf16.decode)! * weightsBf16) / BANDWIDTH : null,
        note: `bf16 weights; ${(weightsBf16 / 1e9).toFixed(2)} GB per token, bound ${(BANDWIDTH / weightsBf16).toFixed(1)} tok/s`,
      },
    ];

    // peak RSS of loading a bf16 safetensors checkpoint of this model, in a fresh process
    let rss: Record<string, unknown> | undefined;
    if (!args.includes('--no-rss')) {
      const ck = path.join(tmp, 'ck-bf16');
      mkdirSync(ck);
      await writeJson(path.join(ck, 'config.json'), { ...configToHF(config), torch_dtype: 'bfloat16' });
      await writeSafetensors(
        path.join(ck, 'model.safetensors'),
        [...model.params].map(([name, t]) => ({
          name,
          dtype: 'BF16' as const,
          shape: [...t.shape],
          load: () => castFloat(tensorToRecord(name, t), 'BF16').data,
        })),
      );
      const ckBytes = statSync(path.join(ck, 'model.safetensors')).size;
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', path.join(here, 'run.ts'), 'infer', '--rss-child', ck],
        { encoding: 'utf8' },
      );
      const line = child.stdout.trim().split('\n').pop() ?? '';
      try {
        rss = {
          checkpoint_gb: ckBytes / 1e9,
          f32_params_gb: weightsF32 / 1e9,
          ...(JSON.parse(line) as object),
        };
      } catch {
        rss = { error: `child failed (${child.status}): ${child.stderr.slice(-500)}` };
      }
      console.log(`  peak RSS loading the bf16 checkpoint: ${JSON.stringify(rss)}`);
    }

    const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
    console.log('\n| row | unit | ours | llama.cpp | ratio | ours / limit | llama.cpp / limit |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(
        `| ${r.name} | ${r.unit} | ${fmt(r.ours)} | ${fmt(r.peer_value)} | ${fmt(r.ratio)} | ${fmt(r.limit_fraction)} | ${fmt(r.peer_limit_fraction ?? (r.unit === 'GFLOP/s' && r.peer_value !== null ? (r.peer_value * 1e9) / PEAK_F32 : null))} |`,
      );
    }
    const out = path.join(here, 'results', 'infer.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          config: {
            ...configToHF(config),
            note: 'MiniCPM-2B width, reduced depth, random weights (MiniCPM.init)',
          },
          threads: THREADS,
          passes,
          prompt_tokens: nPrompt,
          decode_tokens: nDecode,
          date: new Date().toISOString(),
          peak_rss_load_bf16: rss ?? null,
          rows,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
    model.parameters().forEach((t) => t.dispose());
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
