/**
 * The engine worker: loads a model (a folder of safetensors in f32/bf16 or GPTQ W4/W8, or a GGUF file
 * with Q4_0/Q8_0/f32/f16/bf16 tensors; config, tokenizer, weights) and generates with streaming and
 * cancellation, on the wasm backend with its kernel threads when the page is cross-origin isolated,
 * else on the single-threaded wasm module (and a notice saying why).
 */
import './browser-shims.js';
import { chatFormatFor, renderPrompt, type ChatFormat } from '../../src/align/chat-format.js';
import { installWasmAllocator, makeWasmBackend } from '../../src/backends/wasm/wasm-backend.js';
import {
  canShareMemory,
  createBrowserWasmKernels,
  createSingleThreadBrowserKernels,
} from '../../src/backends/wasm/wasm-browser.js';
import { generate, type GenerateOptions } from '../../src/engine/generate.js';
import { setQuantKernels } from '../../src/backends/quant.js';
import type { WasmKernels } from '../../src/backends/wasm/wasm-kernels.js';
import { configFromGguf } from '../../src/models/gguf-load.js';
import { loadGgufModelWithReport } from '../../src/quant/ggml-model.js';
import { gptqModelFromReader } from '../../src/quant/load-quantized.js';
import { parseQuantizeConfig } from '../../src/quant/quantize-config.js';
import { tokenizerFromGgufMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { openBlobGguf } from './blob-gguf.js';
import { configFromHF, type MiniCPMConfig } from '../../src/models/config.js';
import { parameterShapes, type MiniCPM } from '../../src/models/minicpm.js';
import { loadParameters } from '../../src/models/weights.js';
import { setBackend } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { HfTokenizer } from '../../src/tokenizer/tokenizer-json.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { BlobCheckpoint } from './blob-checkpoint.js';
import type { FromWorker, ToWorker } from './messages.js';
import { filesOf, ggufOf, weightBlobs, type ModelFiles, type Progress } from './model-files.js';

const post = (m: FromWorker) => (self as unknown as { postMessage(m: FromWorker): void }).postMessage(m);

interface Loaded {
  model: MiniCPM;
  tok: Tokenizer;
  format: ChatFormat;
  stopIds: number[];
}
let loaded: Loaded | null = null;
/** The runtime of the loaded model: stopped before another load starts its own. */
let kernels: WasmKernels | null = null;
let cancelFlag: Int32Array | null = null;
let cancelled = false;

const tokenName = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String(v.content) : undefined;

async function json(
  files: ModelFiles,
  name: string,
  optional: boolean,
): Promise<Record<string, unknown> | null> {
  const b = await files.get(name, optional);
  return b ? (JSON.parse(await b.text()) as Record<string, unknown>) : null;
}

/** tokenizer.model (MiniCPM's reference) or tokenizer.json, with tokenizer_config.json's settings. */
async function loadTokenizer(files: ModelFiles, cfg: Record<string, unknown> | null): Promise<Tokenizer> {
  const addBos = typeof cfg?.add_bos_token === 'boolean' ? cfg.add_bos_token : undefined;
  const addEos = typeof cfg?.add_eos_token === 'boolean' ? cfg.add_eos_token : undefined;
  const sp = await files.get('tokenizer.model', true);
  if (sp)
    return SentencePieceTokenizer.fromModelBytes(new Uint8Array(await sp.arrayBuffer()), 'tokenizer.model', {
      addBos,
      addEos,
    });
  const tj = await json(files, 'tokenizer.json', true);
  if (!tj) throw new Error(`${files.name} has neither tokenizer.model nor tokenizer.json`);
  return new HfTokenizer(tj, {
    bosToken: tokenName(cfg?.bos_token),
    eosToken: tokenName(cfg?.eos_token),
    padToken: tokenName(cfg?.pad_token),
    addBos,
    addEos,
    source: 'tokenizer.json',
  });
}

/** What a load needs before the weights are read: config, tokenizer, template, stops and a builder. */
interface Prepared {
  config: MiniCPMConfig;
  tok: Tokenizer;
  template: string | undefined;
  eos: unknown;
  /** Bytes of weights to read (the progress bar, and the single-threaded module's fixed memory). */
  weightBytes: number;
  /** Reads the weights onto the installed backend (call once it and its allocator are in place). */
  build(onRead: (bytes: number) => void): MiniCPM;
}

/** A GGUF file: config, tokenizer and chat template from its metadata; Q4_0/Q8_0 stay quantized. */
function prepareGguf(g: { name: string; blob: Blob }): Prepared {
  let onRead: (n: number) => void = () => {};
  const file = openBlobGguf(g.blob, g.name, (n) => onRead(n));
  const config = configFromGguf(file);
  const template = file.metadata.get('tokenizer.chat_template');
  return {
    config,
    tok: tokenizerFromGgufMetadata(file.metadata),
    template: template?.type === 'string' ? template.value : undefined,
    eos: config.eosTokenId,
    weightBytes: g.blob.size,
    build(read) {
      onRead = read;
      return loadGgufModelWithReport(file).model;
    },
  };
}

/** A folder: safetensors in f32/bf16, or a GPTQ checkpoint (W4/W8 layers stay quantized). */
async function prepareFolder(files: ModelFiles): Promise<Prepared> {
  const hf = (await json(files, 'config.json', false))!;
  const config = configFromHF(hf);
  const tokCfg = await json(files, 'tokenizer_config.json', true);
  const gen = await json(files, 'generation_config.json', true);
  const qcJson = hf.quantization_config ?? (await json(files, 'quantize_config.json', true));
  const qc = qcJson ? parseQuantizeConfig(qcJson, `${files.name} quantization settings`, true) : null;
  const shards = await weightBlobs(files);
  return {
    config,
    tok: await loadTokenizer(files, tokCfg),
    template: typeof tokCfg?.chat_template === 'string' ? tokCfg.chat_template : undefined,
    eos: gen?.eos_token_id ?? config.eosTokenId,
    weightBytes: [...shards.values()].reduce((s, b) => s + b.size, 0),
    build(onRead) {
      const reader = new BlobCheckpoint(files.name, shards, onRead);
      return qc ? gptqModelFromReader(config, qc, reader) : loadParameters(config, reader);
    },
  };
}

async function load(msg: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const progress: Progress = (phase, file, l, t) =>
    post({ type: 'progress', phase, file, loaded: l, total: t });
  const gguf = await ggufOf(msg.source, progress);
  const p = gguf ? prepareGguf(gguf) : await prepareFolder(filesOf(msg.source, progress));
  const { config } = p;
  // another model: the old one's workers end and its memory goes with it (the runtime is per model)
  loaded = null;
  kernels?.rt.stop();
  kernels = null;
  let backendName: string;
  let notice: string | null = null;
  let k: WasmKernels;
  if (canShareMemory()) {
    k = await createBrowserWasmKernels(msg.wasmUrl, msg.threads);
    backendName = `wasm simd128, ${msg.threads} thread${msg.threads > 1 ? 's' : ''}`;
  } else {
    // unshared memory cannot grow under live tensors: size it for the weights as they will be held
    // (f32, or the files' bytes for quantized ones, whichever is smaller) plus work memory
    let weights = 0;
    for (const shape of parameterShapes(config).values()) weights += 4 * shape.reduce((a, b) => a * b, 1);
    weights = Math.min(weights, 2 * p.weightBytes);
    k = await createSingleThreadBrowserKernels(
      msg.wasmStUrl,
      Math.min(weights * 1.25 + 2 ** 29, 2 ** 32 - 2 ** 16),
    );
    backendName = 'wasm simd128, 1 thread (not isolated)';
    notice =
      'This page is not cross-origin isolated, so WebAssembly cannot share memory: running on one thread. ' +
      'Serve it with the COOP/COEP headers (as `minicpm web` does) for several threads.';
  }
  kernels = k;
  setBackend(makeWasmBackend(k));
  installWasmAllocator(k);
  setQuantKernels(k); // quantized layers run on the module's int4/int8 kernels
  cancelFlag = msg.cancel ? new Int32Array(msg.cancel) : null;
  let read = 0;
  const model = p.build((n) => progress('weights', 'weights', (read += n), p.weightBytes));
  const stopIds = (Array.isArray(p.eos) ? p.eos : [p.eos]).filter((x): x is number => typeof x === 'number');
  loaded = { model, tok: p.tok, format: chatFormatFor('auto', 'minicpm', p.template), stopIds };
  let params = 0;
  for (const [, t] of model.params) params += t.size;
  post({ type: 'ready', backend: backendName, notice, params, layers: config.numLayers });
}

/** A chat turn: the conversation rendered in the model's chat format, stopping at its end tokens. */
function chat(msg: Extract<ToWorker, { type: 'generate' }>): Promise<void> {
  if (!loaded) throw new Error('no model is loaded yet');
  const prompt = renderPrompt(loaded.tok, loaded.format, msg.messages);
  const opts = msg.temperature > 0 ? { temperature: msg.temperature } : { greedy: true };
  return run(prompt, { ...opts, maxNewTokens: msg.maxNewTokens, stopIds: loaded.stopIds });
}

/** Prompt ids as given, greedy, every token decoded (no stop ids): for benchmarks. */
function bench(msg: Extract<ToWorker, { type: 'bench' }>): Promise<void> {
  for (const id of msg.prompt)
    if (!Number.isInteger(id) || id < 0) throw new Error(`bench: prompt id ${id} is not a token id`);
  return run(msg.prompt, { greedy: true, maxNewTokens: msg.decode, stopIds: [] }, false);
}

/** streamText: decode and post the text as it grows (off for benchmarks, whose ids need no tokenizer). */
async function run(prompt: number[], opts: GenerateOptions, streamText = true): Promise<void> {
  if (!loaded) throw new Error('no model is loaded yet');
  const { model, tok } = loaded;
  const stopIds = opts.stopIds ?? [];
  cancelled = false;
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  const ids: number[] = [];
  const t0 = performance.now();
  let t1 = t0;
  let text = '';
  for await (const step of generate(model, [prompt], opts)) {
    if (step.step === 0) t1 = performance.now();
    const id = step.ids[0];
    if (id < 0) break;
    ids.push(id);
    if (streamText && !stopIds.includes(id)) {
      const full = tok.decode(ids.filter((i) => !stopIds.includes(i)));
      // a partial UTF-8 sequence decodes to U+FFFD: wait for the token that completes it
      if (!full.endsWith('\uFFFD')) {
        post({ type: 'token', id, text: full.slice(text.length) });
        text = full;
      }
    }
    if (cancelled || (cancelFlag && Atomics.load(cancelFlag, 0) === 1)) {
      cancelled = true;
      break;
    }
  }
  const t2 = performance.now();
  post({ type: 'done', ids, promptTokens: prompt.length, prefillMs: t1 - t0, decodeMs: t2 - t1, cancelled });
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'cancel') {
    cancelled = true;
    return;
  }
  const job = m.type === 'load' ? load(m) : m.type === 'bench' ? bench(m) : chat(m);
  job.catch((err: unknown) =>
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
};
