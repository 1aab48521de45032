/**
 * LLM inference, ours vs llama.cpp (node-llama-cpp, CPU, 2 threads), on the same weights:
 *
 *   npm run bench -- infer [--layers 4] [--passes 3] [--prompt 512] [--decode 128] [--kv-cache bf16|f32]
 *                          [--max-wait 120] [--no-wait] [--no-rss] [--no-quant]
 *
 * A MiniCPM-2B-shaped model (d 2304, ff 5760, 36 heads, vocab 122753, tied head; only `--layers` layers so
 * a pass fits the time) with random weights from MiniCPM.init is exported with our GGUF writer (f32, and
 * bf16 for the peer) and loaded by llama.cpp in the same run. Prefill: `--prompt` tokens in one call, logits
 * of the last position only (as llama.cpp computes them). Decode: `--decode` greedy single-token steps with a
 * KV cache after the prompt. Our bf16 rows keep 2-D weights in bf16 (f32 activations, vdpbf16ps). Both
 * engines keep a 16-bit KV cache by default, as llama.cpp does (its default f16; ours bf16 via --kv-cache).
 *
 * Noise: the machine is a shared VM whose free memory bandwidth drifts by ~2x within minutes, and decode
 * is bandwidth bound. So each pass runs ours and llama.cpp side by side on one dtype: prefills back to
 * back, then decode in turns of 16 tokens (alternating who goes first), after waiting for idle CPUs; rows
 * are medians over passes. Decode rows report the fraction of the bandwidth bound (weight bytes read per
 * token: every matrix once + the tied head) at 55 GB/s (an idle machine) and at the 2-thread DRAM read
 * bandwidth probed just before and after that pass's decode (bench/peers/limits.c).
 * Quantized rows (--no-quant skips them): `decode q4` / `prefill q4`, our W4 g32 (an AutoGPTQ folder of the
 * same weights, RTN, on the int4 kernels) vs llama.cpp on a Q4_0 export; `decode q8`, our W8 (symmetric
 * per 32) vs Q8_0. Both of ours use --head-dtype int8, as the Q4_0/Q8_0 exports keep the tied table in
 * Q8_0; their decode bound counts the bytes our kernels actually stream (codes, fp16 scales, zeros).
 * Also: our peak RSS loading a bf16 safetensors checkpoint of the same model, and the W4 folder (a child
 * process each).
 * Writes bench/results/infer.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/backends/index.js';
import { castFloat } from '../src/io/dtypes.js';
import { writeJson } from '../src/io/hf-folder.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { configFromHF, configToHF, type MiniCPMConfig } from '../src/models/config.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { KVCache, type KVCacheDtype } from '../src/models/kv-cache.js';
import { loadModel } from '../src/models/load.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { tensorToRecord } from '../src/models/weights.js';
import { cast, noGrad, Rng, scope, slice, Tensor } from '../src/tensor/index.js';
import { syntheticGgufVocab } from '../src/tokenizer/gguf-export.js';
import { limitsProbe, median, sleep, waitIdle } from './lib/machine.js';
import { loadW4, w8Copy, writeW4Folder } from './lib/quantized.js';
import { loadAnyModel } from '../src/quant/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BANDWIDTH = 55e9;
const THREADS = 2;
/** Decode alternates ours and the peer every this many tokens. */
const DECODE_CHUNK = 16;
/** The read-bandwidth probe's buffer: far beyond L3, as the weights are. */
const PROBE_BYTES = 1 << 30;

interface Row {
  name: string;
  unit: string;
  ours: number | null;
  peer: string;
  peer_value: number | null;
  ratio: number | null;
  limit_fraction: number | null;
  limit_fraction_measured?: number | null;
  peer_limit_fraction?: number | null;
  peer_limit_fraction_measured?: number | null;
  spread?: Record<string, number[]>;
  note?: string;
}

/** Row kinds: float weights, and our W4 / W8 against llama.cpp's Q4_0 / Q8_0. */
type Dt = 'f32' | 'bf16' | 'q4' | 'q8';
const DT_NOTE: Record<Dt, string> = {
  f32: '',
  bf16: 'bf16 weights; ',
  q4: 'ours W4 g32 (AutoGPTQ folder, RTN) + int8 head vs llama.cpp Q4_0 (head Q8_0); ',
  q8: 'ours W8 (symmetric per 32) + int8 head vs llama.cpp Q8_0; ',
};

function fmtRatio(a: number | null, b: number | null): string {
  return a !== null && b ? `${(a / b).toFixed(2)}x` : '—';
}

/** Bytes of every file in a folder (a sharded checkpoint). */
function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
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

// ---------- decoders: ours and the peer, advanced a chunk at a time ----------

/** One model generating greedily after a prompt, so that ours and the peer can take turns. */
interface Decoder {
  /** Seconds to evaluate the whole prompt (logits of the last position only). */
  prefill(): Promise<number>;
  /** Seconds for the next `n` single-token steps. */
  steps(n: number): Promise<number>;
  dispose(): Promise<void>;
}

function oursDecoder(model: MiniCPM, prompt: number[], nDecode: number, kv: KVCacheDtype): Decoder {
  const c = model.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, prompt.length + nDecode + 8, kv);
  let next = -1;
  return {
    prefill: () =>
      Promise.resolve(
        noGrad(() => {
          const t0 = performance.now();
          next = scope(() => {
            const h = model.hidden(Tensor.from(Int32Array.from(prompt), [1, prompt.length], 'i32'), cache);
            return argmax(model.logitsFromHidden(slice(h, 1, prompt.length - 1, prompt.length)));
          });
          return (performance.now() - t0) / 1000;
        }),
      ),
    steps: (n) =>
      Promise.resolve(
        noGrad(() => {
          const t0 = performance.now();
          for (let i = 0; i < n; i++)
            next = scope(() => argmax(model.forward(Tensor.from(Int32Array.of(next), [1, 1], 'i32'), cache)));
          return (performance.now() - t0) / 1000;
        }),
      ),
    dispose: () => Promise.resolve(cache.dispose()),
  };
}

/** Greedy pick over the last row, read in place (toArray's boxed copy of 122753 logits cost ~4 ms a token). */
function argmax(logits: Tensor): number {
  const V = logits.shape[logits.shape.length - 1];
  const c = logits.isContiguous() ? logits : logits.contiguousCopy();
  const data = c.data as Float32Array;
  const start = c.offset + c.size - V;
  let best = start;
  for (let i = start + 1; i < start + V; i++) if (data[i] > data[best]) best = i;
  if (c !== logits) c.dispose();
  return best - start;
}

type Nlc = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<Nlc['getLlama']>>;

/** llama.cpp on our exported GGUF: the prompt in one batch, then greedy tokens pulled one at a time. */
async function peerDecoder(llama: Llama, file: string, prompt: number[], nDecode: number): Promise<Decoder> {
  const model = await llama.loadModel({ modelPath: file, useMmap: true });
  const ctx = await model.createContext({
    contextSize: prompt.length + nDecode + 64,
    batchSize: prompt.length,
    threads: THREADS,
  });
  const seq = ctx.getSequence();
  type Tokens = Parameters<typeof seq.evaluateWithoutGeneratingNewTokens>[0];
  // warm the weights into the page cache, then start over
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 8) as unknown as Tokens);
  await seq.clearHistory();
  let tokens: AsyncGenerator<unknown> | undefined;
  return {
    async prefill() {
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(prompt as unknown as Tokens);
      return (performance.now() - t0) / 1000;
    },
    async steps(n) {
      // the generator evaluates one token per next(): the first step evaluates the last prompt
      // token's successor, as our first decode step does
      tokens ??= seq.evaluate([prompt[prompt.length - 1]] as unknown as Tokens, { temperature: 0 });
      const t0 = performance.now();
      for (let i = 0; i < n; i++) if ((await tokens.next()).done) throw new Error('llama.cpp stopped early');
      return (performance.now() - t0) / 1000;
    },
    async dispose() {
      await tokens?.return(undefined);
      await ctx.dispose();
      await model.dispose();
    },
  };
}

interface PairedPass {
  ours: { prefillS: number; decodeS: number };
  peer: { prefillS: number; decodeS: number } | null;
}

/**
 * Ours and the peer on the same prompt, taking turns: prefills back to back, then decode in chunks
 * of `chunk` tokens, alternating which goes first, so that both see the same share of the memory
 * bandwidth other tenants leave (it drifts by 2x within minutes here).
 */
async function pairedPass(
  ours: Decoder,
  peer: Decoder | null,
  nDecode: number,
  chunk: number,
  flip: boolean,
): Promise<PairedPass> {
  const pair = async (f: (d: Decoder) => Promise<number>): Promise<[number, number]> => {
    let o = 0,
      p = 0;
    if (flip && peer) p = await f(peer);
    o = await f(ours);
    if (!flip && peer) p = await f(peer);
    return [o, p];
  };
  const [oPre, pPre] = await pair((d) => d.prefill());
  let oDec = 0,
    pDec = 0;
  for (let done = 0, i = 0; done < nDecode; done += chunk, i++) {
    const n = Math.min(chunk, nDecode - done);
    await sleep(20); // let the other side's spinning threads go to sleep
    const [o, p] = await pair((d) => d.steps(n));
    oDec += o;
    pDec += p;
    flip = !flip;
  }
  return { ours: { prefillS: oPre, decodeS: oDec }, peer: peer ? { prefillS: pPre, decodeS: pDec } : null };
}

/** The same model with every 2-D weight stored bf16 (f32 activations; GEMMs through vdpbf16ps). */
function bf16Copy(m: MiniCPM): MiniCPM {
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
}

// ---------- RSS child ----------

async function rssChild(dir: string, quantized: boolean): Promise<void> {
  useBackend('auto');
  const before = process.resourceUsage().maxRSS;
  const vmRss = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const t0 = performance.now();
  // the W4 folder as generate/serve load it (layers on the int4 kernels, the BF16 embedding kept as is)
  const m = await (quantized ? loadAnyModel : loadModel)(dir, { weightDtype: 'bf16' });
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
      rssBeforeLoadMiB: vmRss ? Number(vmRss) / 1024 : null,
      loadS: s,
      params: m.params.size,
    }),
  );
}

export default async function infer(args: string[]): Promise<void> {
  const rc = args.indexOf('--rss-child');
  if (rc >= 0) return rssChild(args[rc + 1], args.includes('--quantized'));
  const quant = !args.includes('--no-quant');
  const layers = arg(args, 'layers', 4);
  const passes = arg(args, 'passes', 3);
  const nPrompt = arg(args, 'prompt', 512);
  const nDecode = arg(args, 'decode', 128);
  const kvAt = args.indexOf('--kv-cache');
  const kvCache: KVCacheDtype = kvAt >= 0 && args[kvAt + 1] === 'f32' ? 'f32' : 'bf16';
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
      `${(weightsF32 / 1e9).toFixed(2)} GB f32 read per decoded token; prompt ${nPrompt}, decode ${nDecode}, ${THREADS} threads, our KV cache ${kvCache}`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'minicpm-bench-infer-'));
  try {
    const t0 = performance.now();
    const model = MiniCPM.init(config, new Rng(1234));
    console.log(`  init ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const vocab = syntheticGgufVocab(config.vocabSize);
    const files: Record<Dt, string> = {
      f32: path.join(tmp, 'm-f32.gguf'),
      bf16: path.join(tmp, 'm-bf16.gguf'),
      q4: path.join(tmp, 'm-q4_0.gguf'),
      q8: path.join(tmp, 'm-q8_0.gguf'),
    };
    const dts: Dt[] = quant ? ['f32', 'bf16', 'q4', 'q8'] : ['f32', 'bf16'];
    for (const dt of dts) {
      const t = performance.now();
      const dtype = dt === 'q4' ? 'q4_0' : dt === 'q8' ? 'q8_0' : dt;
      await exportModelToGguf(model, files[dt], { dtype, tokenizer: vocab, name: 'bench' });
      console.log(
        `  exported ${dt} GGUF ${(statSync(files[dt]).size / 1e9).toFixed(2)} GB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const modelBf16 = bf16Copy(model);
    const w4Dir = path.join(tmp, 'w4');
    const ours: Record<Dt, { model: MiniCPM; bytes: number } | null> = {
      f32: { model, bytes: weightsF32 },
      bf16: { model: modelBf16, bytes: weightsBf16 },
      q4: null,
      q8: null,
    };
    if (quant) {
      const t = performance.now();
      await writeW4Folder(model, w4Dir);
      ours.q4 = await loadW4(w4Dir);
      ours.q8 = w8Copy(model);
      console.log(
        `  W4 folder written and loaded, W8 made in ${((performance.now() - t) / 1000).toFixed(1)} s: ` +
          `${(ours.q4.bytes / 1e9).toFixed(3)} / ${(ours.q8.bytes / 1e9).toFixed(3)} GB read per token`,
      );
    }
    let s = 99;
    const prompt = Array.from(
      { length: nPrompt },
      () => 3 + (((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % (config.vocabSize - 3)),
    );

    const llama = nlc ? await nlc.getLlama({ gpu: false, build: 'never' }) : undefined;
    const probe = limitsProbe();
    const OURS = (dt: Dt) => {
      const o = ours[dt];
      if (!o) throw new Error(`no ${dt} model (--no-quant)`);
      return o;
    };
    const series = () => ({ prefill: [] as number[], decode: [] as number[] });
    /** Ours and llama.cpp per row kind. */
    const S = {
      ours: { f32: series(), bf16: series(), q4: series(), q8: series() } as Record<
        Dt,
        ReturnType<typeof series>
      >,
      peer: { f32: series(), bf16: series(), q4: series(), q8: series() } as Record<
        Dt,
        ReturnType<typeof series>
      >,
    };
    /** DRAM read GB/s (2 threads) sampled around each decode, for the bound actually available then. */
    const bandwidth: Record<Dt, number[]> = { f32: [], bf16: [], q4: [], q8: [] };
    const readProbe = () => (probe ? probe('read', String(THREADS), String(PROBE_BYTES)) * 1e9 : NaN);
    for (let p = 0; p < passes; p++) {
      const busy = maxWait ? await waitIdle(maxWait) : 0;
      let line = `  pass ${p + 1} (busy ${(busy * 100).toFixed(0)}%):`;
      for (const dt of dts) {
        if (maxWait) await waitIdle(maxWait);
        const before = readProbe();
        const ours = oursDecoder(OURS(dt).model, prompt, nDecode, kvCache);
        const peer = llama ? await peerDecoder(llama, files[dt], prompt, nDecode) : null;
        let r: PairedPass;
        try {
          r = await pairedPass(ours, peer, nDecode, DECODE_CHUNK, p % 2 === 1);
        } finally {
          await ours.dispose();
          await peer?.dispose();
        }
        const bw = (before + readProbe()) / 2;
        if (Number.isFinite(bw)) bandwidth[dt].push(bw);
        const mine = S.ours[dt];
        mine.prefill.push(r.ours.prefillS);
        mine.decode.push(r.ours.decodeS);
        line += ` ${dt}: ours prefill ${r.ours.prefillS.toFixed(2)} s, decode ${(nDecode / r.ours.decodeS).toFixed(2)} tok/s`;
        if (r.peer) {
          S.peer[dt].prefill.push(r.peer.prefillS);
          S.peer[dt].decode.push(r.peer.decodeS);
          line += `, llama.cpp ${r.peer.prefillS.toFixed(2)} s, ${(nDecode / r.peer.decodeS).toFixed(2)} tok/s`;
        }
        if (Number.isFinite(bw)) line += ` (DRAM ${(bw / 1e9).toFixed(1)} GB/s);`;
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
    /** A decode row: tok/s medians, and the bound both at 55 GB/s and at the bandwidth measured alongside. */
    const decodeRow = (dt: Dt): Row => {
      const mine = S.ours[dt];
      const bytes = OURS(dt).bytes;
      const ours = tokps(mine.decode);
      const peerValue = tokps(S.peer[dt].decode);
      // per pass: the bytes/s decode reached over the read bandwidth probed around it
      const measured = (xs: number[]) =>
        xs.length && bandwidth[dt].length === xs.length
          ? median(xs.map((s, i) => ((nDecode / s) * bytes) / bandwidth[dt][i]))
          : null;
      return {
        name: `decode ${nDecode} ${dt}`,
        unit: 'tok/s',
        ours,
        peer: peerName,
        peer_value: peerValue,
        ratio: ratio(ours, peerValue),
        limit_fraction: ours !== null ? (ours * bytes) / BANDWIDTH : null,
        limit_fraction_measured: measured(mine.decode),
        peer_limit_fraction: peerValue !== null ? (peerValue * bytes) / BANDWIDTH : null,
        peer_limit_fraction_measured: measured(S.peer[dt].decode),
        spread: {
          ours_tok_s: mine.decode.map((s) => nDecode / s),
          peer_tok_s: S.peer[dt].decode.map((s) => nDecode / s),
          dram_read_GBps: bandwidth[dt].map((b) => b / 1e9),
        },
        note:
          `${DT_NOTE[dt]}KV cache: ours ${kvCache}, llama.cpp f16; ` +
          `${(bytes / 1e9).toFixed(2)} GB of weights per token; bound ` +
          `${(BANDWIDTH / bytes).toFixed(1)} tok/s at 55 GB/s (idle machine); *_measured: against the 2-thread ` +
          `DRAM read bandwidth probed before and after each pass's decode (bench/peers/limits.c), median over passes` +
          (dt === 'f32' || dt === 'bf16'
            ? ''
            : '; llama.cpp/limit uses our byte count too (Q4_0 4.5, Q8_0 8.5 bits)'),
      };
    };
    const prefillRow = (dt: Dt): Row => {
      const mine = S.ours[dt];
      const peak = dt === 'f32' ? PEAK_F32 : PEAK_BF16;
      const ours = gflops(mine.prefill);
      const peerValue = gflops(S.peer[dt].prefill);
      return {
        name: `prefill ${nPrompt} ${dt}`,
        unit: 'GFLOP/s',
        ours,
        peer: peerName,
        peer_value: peerValue,
        ratio: ratio(ours, peerValue),
        limit_fraction: ours !== null ? (ours * 1e9) / peak : null,
        peer_limit_fraction: peerValue !== null ? (peerValue * 1e9) / peak : null,
        spread: { ours_s: mine.prefill, peer_s: S.peer[dt].prefill },
        note:
          dt === 'f32'
            ? `${(prefillFlops / 1e9).toFixed(0)} GFLOP per prefill (last-position logits); limit 400 GFLOP/s fp32 (2 cores)`
            : dt === 'bf16'
              ? 'bf16 weights, f32 activations (vdpbf16ps GEMMs); limit 800 GFLOP/s bf16 (2 cores)'
              : `${DT_NOTE[dt]}int8 activations per 32 (vpdpbusd); limit shown against 800 GFLOP/s; ` +
                `ours / our bf16 prefill: ${fmtRatio(gflops(mine.prefill), gflops(S.ours.bf16.prefill))}`,
      };
    };
    const rows: Row[] = [prefillRow('f32'), decodeRow('f32'), prefillRow('bf16'), decodeRow('bf16')];
    if (quant) rows.push(prefillRow('q4'), decodeRow('q4'), decodeRow('q8'));

    // peak RSS of loading a bf16 safetensors checkpoint of this model, in a fresh process
    let rss: Record<string, unknown> | undefined;
    let rssW4: Record<string, unknown> | undefined;
    const rssOf = (dir: string, bytes: number, quantized: boolean): Record<string, unknown> => {
      const child = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(here, 'run.ts'),
          'infer',
          '--rss-child',
          dir,
          ...(quantized ? ['--quantized'] : []),
        ],
        { encoding: 'utf8' },
      );
      const line = child.stdout.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as { peakRssMiB: number | null; rssBeforeLoadMiB: number | null };
        return {
          checkpoint_gb: bytes / 1e9,
          f32_params_gb: weightsF32 / 1e9,
          ...r,
          peak_over_checkpoint: r.peakRssMiB !== null ? (r.peakRssMiB * 2 ** 20) / bytes : null,
          // the load's own peak: without the runtime's resident size before it (~90 MiB of Node)
          load_peak_over_checkpoint:
            r.peakRssMiB !== null && r.rssBeforeLoadMiB !== null
              ? ((r.peakRssMiB - r.rssBeforeLoadMiB) * 2 ** 20) / bytes
              : null,
        };
      } catch {
        return { error: `child failed (${child.status}): ${child.stderr.slice(-500)}` };
      }
    };
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
      rss = rssOf(ck, ckBytes, false);
      console.log(`  peak RSS loading the bf16 checkpoint: ${JSON.stringify(rss)}`);
      if (quant) {
        rssW4 = rssOf(w4Dir, folderBytes(w4Dir), true);
        console.log(`  peak RSS loading the W4 folder: ${JSON.stringify(rssW4)}`);
      }
    }

    const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
    console.log(
      '\n| row | unit | ours | llama.cpp | ratio | ours / limit | llama.cpp / limit | ours / measured DRAM | llama.cpp / measured DRAM |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const cells = [r.ours, r.peer_value, r.ratio, r.limit_fraction, r.peer_limit_fraction ?? null];
      const dram = [r.limit_fraction_measured ?? null, r.peer_limit_fraction_measured ?? null];
      console.log(`| ${r.name} | ${r.unit} | ${[...cells, ...dram].map((x) => fmt(x)).join(' | ')} |`);
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
          peak_rss_load_w4: rssW4 ?? null,
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
