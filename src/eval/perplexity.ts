/**
 * Perplexity with llama.cpp's llama-perplexity protocol, and its --kl-divergence comparison against a
 * reference model:
 *
 * * The text is tokenized once (BOS first) and cut into non-overlapping windows of `ctx` tokens (a
 *   trailing partial window is dropped); each window's first token is replaced by BOS.
 * * Only the second half of each window is scored: the logits at positions ctx/2 … ctx−2 predict the
 *   tokens at ctx/2+1 … ctx−1, so every scored token sees at least ctx/2 tokens of context.
 * * PPL = exp(mean NLL); its error is PPL · stderr(NLL) with stderr = √(var/(n−1)), as llama.cpp prints
 *   "PPL = x +/- e".
 * * With a base model: per scored position KL(p_base ‖ p_model) = Σ p_base (log p_base − log p_model),
 *   reported as mean ± stderr, and top-1 agreement (same argmax) as a fraction ± √(f(1−f)/(n−1)).
 */
import { KVCache, type KVCacheDtype } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import { noGrad, Tensor } from '../tensor/index.js';
import { EvalError } from './errors.js';

export interface PerplexityOptions {
  /** Window length in tokens (llama-perplexity's -c; default 512). */
  ctx?: number;
  /** BOS id written over the first token of every window (default the model config's). */
  bosId?: number;
  /** Score at most this many windows (default all). */
  maxChunks?: number;
  /** Reference model for KL divergence and top-1 agreement (same vocabulary). */
  base?: MiniCPM;
  /**
   * KV cache storage of `model` (default none: plain f32 attention). Each window then runs as one
   * prefill through a fresh cache of this dtype, so attention reads keys and values as decoding would
   * (int8: every position quantized as it is appended; the base model always runs without a cache).
   */
  kvCache?: KVCacheDtype;
  /** Called after every window with the running perplexity. */
  onChunk?: (chunk: number, chunks: number, ppl: number) => void;
}

export interface KlStats {
  mean: number;
  stderr: number;
  /** Fraction of scored positions where both models have the same argmax. */
  top1: number;
  top1Stderr: number;
  /** The base model's perplexity over the same positions. */
  basePpl: number;
  basePplError: number;
}

export interface PerplexityResult {
  ppl: number;
  pplError: number;
  /** Mean negative log-likelihood (nats per token) and its standard error. */
  nll: number;
  nllStderr: number;
  /** Scored tokens and windows. */
  tokens: number;
  chunks: number;
  ctx: number;
  kl?: KlStats;
}

/** Running mean and sample standard error. */
class Moments {
  n = 0;
  sum = 0;
  sum2 = 0;
  add(x: number): void {
    this.n++;
    this.sum += x;
    this.sum2 += x * x;
  }
  get mean(): number {
    return this.sum / this.n;
  }
  get stderr(): number {
    if (this.n < 2) return NaN;
    const v = this.sum2 / this.n - this.mean ** 2;
    return v > 0 ? Math.sqrt(v / (this.n - 1)) : 0;
  }
}

/** log-softmax of row `r` of a [T, V] f32 array, in float64. */
function logSoftmaxRow(logits: Float32Array, r: number, V: number, out: Float64Array): void {
  const o = r * V;
  let mx = -Infinity;
  for (let i = 0; i < V; i++) if (logits[o + i] > mx) mx = logits[o + i];
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp(logits[o + i] - mx);
  const lz = mx + Math.log(z);
  for (let i = 0; i < V; i++) out[i] = logits[o + i] - lz;
}

function argmax(x: Float64Array): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[a]) a = i;
  return a;
}

function windowLogits(model: MiniCPM, ids: Int32Array, kvCache?: KVCacheDtype): Float32Array {
  const c = model.config;
  const cache = kvCache && new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, ids.length, kvCache);
  try {
    return noGrad(() => {
      const logits = model.forward(Tensor.from(ids, [1, ids.length], 'i32'), cache);
      const out = Float32Array.from(logits.toArray());
      logits.dispose();
      return out;
    });
  } finally {
    cache?.dispose();
  }
}

/** The windows a text of `n` tokens gives at `ctx`, and the positions scored in each (llama.cpp's). */
export function perplexityPlan(n: number, ctx: number): { chunks: number; first: number; perChunk: number } {
  const first = Math.floor(ctx / 2);
  return { chunks: Math.floor(n / ctx), first, perChunk: ctx - 1 - first };
}

/** Perplexity of `model` over `tokens` (BOS included by the caller, as llama.cpp tokenizes). */
export function perplexity(
  model: MiniCPM,
  tokens: ArrayLike<number>,
  opts: PerplexityOptions = {},
): PerplexityResult {
  const ctx = opts.ctx ?? 512;
  if (!Number.isInteger(ctx) || ctx < 4) throw new EvalError(`--ctx must be an integer ≥ 4, got ${ctx}`);
  if (ctx > model.config.maxPositionEmbeddings)
    throw new EvalError(
      `--ctx ${ctx} exceeds the model's context length ${model.config.maxPositionEmbeddings}`,
    );
  const V = model.config.vocabSize;
  const base = opts.base;
  if (base && base.config.vocabSize !== V)
    throw new EvalError(
      `the base model's vocabulary (${base.config.vocabSize}) differs from the model's (${V})`,
    );
  const plan = perplexityPlan(tokens.length, ctx);
  const chunks = Math.min(plan.chunks, opts.maxChunks ?? Infinity);
  if (chunks < 1)
    throw new EvalError(
      `the input has ${tokens.length} tokens: at least ${ctx} (one window of --ctx) are needed; use a longer text or a smaller --ctx`,
    );
  const bos = opts.bosId ?? model.config.bosTokenId;
  const nll = new Moments();
  const baseNll = new Moments();
  const kld = new Moments();
  const top1 = new Moments();
  const lp = new Float64Array(V);
  const blp = new Float64Array(V);
  for (let c = 0; c < chunks; c++) {
    const ids = Int32Array.from({ length: ctx }, (_, j) => tokens[c * ctx + j]);
    ids[0] = bos;
    const logits = windowLogits(model, ids, opts.kvCache);
    const baseLogits = base ? windowLogits(base, ids) : null;
    for (let j = plan.first; j < ctx - 1; j++) {
      const target = ids[j + 1];
      logSoftmaxRow(logits, j, V, lp);
      nll.add(-lp[target]);
      if (baseLogits) {
        logSoftmaxRow(baseLogits, j, V, blp);
        baseNll.add(-blp[target]);
        let kl = 0;
        for (let i = 0; i < V; i++) {
          const p = Math.exp(blp[i]);
          if (p > 0) kl += p * (blp[i] - lp[i]);
        }
        kld.add(kl);
        top1.add(argmax(lp) === argmax(blp) ? 1 : 0);
      }
    }
    opts.onChunk?.(c + 1, chunks, Math.exp(nll.mean));
  }
  const ppl = Math.exp(nll.mean);
  const result: PerplexityResult = {
    ppl,
    pplError: ppl * nll.stderr,
    nll: nll.mean,
    nllStderr: nll.stderr,
    tokens: nll.n,
    chunks,
    ctx,
  };
  if (base) {
    const f = top1.mean;
    const bp = Math.exp(baseNll.mean);
    result.kl = {
      mean: kld.mean,
      stderr: kld.stderr,
      top1: f,
      top1Stderr: top1.n > 1 ? Math.sqrt((f * (1 - f)) / (top1.n - 1)) : NaN,
      basePpl: bp,
      basePplError: bp * baseNll.stderr,
    };
  }
  return result;
}
