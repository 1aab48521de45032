/**
 * Prefill + decode of a fixed batch of prompts with a KV cache, as an async generator of token ids.
 * The engine knows no text: stop strings are the caller's business (it can stop iterating at any
 * time). Rows of unequal length are left-padded and masked; a server serving many users uses the
 * scheduler's ragged batched decode instead (no padding, sequences join and leave between steps).
 */
import { KVCache, type KVCacheDtype } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import { noGrad, scope, slice, Tensor } from '../tensor/index.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export interface GenerateOptions extends SamplerOptions {
  maxNewTokens: number;
  /**
   * Samplers to use instead of building one from the options: one for every row, or one per row
   * (each with its own random stream, so a row's draws do not depend on the others).
   */
  sampler?: Sampler | Sampler[];
  /** Ids that end a sequence (default: the config's eos). The stop id is yielded, then the row ends. */
  stopIds?: number[];
  /** 'bf16' halves the KV cache's memory and decode attention's reads (keys/values rounded to bf16). */
  kvCacheDtype?: KVCacheDtype;
}

export interface GenerateStep {
  /** Index of the generated position (0 = first new token). */
  step: number;
  /** One new id per sequence; −1 for a sequence that has already stopped. */
  ids: number[];
}

export class GenerateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GenerateError';
  }
}

/**
 * Logits of the last position of every row: views into `logits` (a linear's contiguous output), valid
 * until it is disposed. Copying 122,753 logits per row per token cost more than picking from them.
 */
function lastLogits(logits: Tensor): Float32Array[] {
  const [B, T, V] = logits.shape;
  const data = logits.data as Float32Array;
  return Array.from({ length: B }, (_, b) =>
    data.subarray(logits.offset + (b * T + T - 1) * V, logits.offset + (b * T + T) * V),
  );
}

/**
 * Left-pads prompts of unequal length. RoPE depends only on relative positions, so a row shifted by
 * its padding computes the same attention; the mask hides pads from real tokens (and lets each pad
 * see itself, so no softmax row is empty).
 */
export function padMask(lengths: number[], width: number): Tensor | null {
  if (lengths.every((l) => l === width)) return null;
  const B = lengths.length;
  const m = new Float32Array(B * width * width);
  for (let b = 0; b < B; b++) {
    const pad = width - lengths[b];
    for (let t = 0; t < width; t++)
      for (let s = 0; s < pad; s++) if (s !== t) m[(b * width + t) * width + s] = -Infinity;
  }
  return Tensor.from(m, [B, 1, width, width]).keep();
}

/** Decode-step mask [B, 1, 1, S]: each row's left padding stays hidden. */
function decodeMask(pads: number[], S: number): Tensor {
  const m = new Float32Array(pads.length * S);
  pads.forEach((pad, b) => m.fill(-Infinity, b * S, b * S + pad));
  return Tensor.from(m, [pads.length, 1, 1, S]).keep();
}

export async function* generate(
  model: MiniCPM,
  prompts: number[][],
  opts: GenerateOptions,
): AsyncGenerator<GenerateStep> {
  const c = model.config;
  if (prompts.length === 0 || prompts.some((p) => p.length === 0))
    throw new GenerateError('every prompt needs at least one token');
  for (const p of prompts) {
    for (const id of p)
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)
        throw new GenerateError(`prompt id ${id} is outside [0, ${c.vocabSize})`);
  }
  const width = Math.max(...prompts.map((p) => p.length));
  const pads = prompts.map((p) => width - p.length);
  const prefillMask = padMask(
    prompts.map((p) => p.length),
    width,
  );
  const B = prompts.length;
  const given = opts.sampler;
  if (Array.isArray(given) && given.length !== prompts.length)
    throw new GenerateError(`${given.length} samplers for ${prompts.length} prompts`);
  const shared = given === undefined ? new Sampler(opts) : Array.isArray(given) ? null : given;
  const samplerOf = (b: number) => shared ?? (given as Sampler[])[b];
  const stop = new Set(opts.stopIds ?? [c.eosTokenId]);
  const cache = new KVCache(
    c.numLayers,
    B,
    c.numKvHeads,
    c.headDim,
    width + opts.maxNewTokens,
    opts.kvCacheDtype ?? model.kvCacheDtype,
  );
  const contexts = prompts.map((p) => [...p]);
  const done = new Array<boolean>(B).fill(false);
  // the latest logits, kept (not left to a scope) while their rows are sampled
  let logits: Tensor | null = null;
  try {
    logits = noGrad(() =>
      scope(() => {
        const padded = prompts.flatMap((p, b) => [...new Array<number>(pads[b]).fill(c.eosTokenId), ...p]);
        const ids = Tensor.from(Int32Array.from(padded), [B, width], 'i32');
        const h = model.hidden(ids, cache, prefillMask ?? undefined);
        return model.logitsFromHidden(slice(h, 1, width - 1, width));
      }),
    ).keep();
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const rows = lastLogits(logits);
      const next = rows.map((row, b) => (done[b] ? -1 : samplerOf(b).sample(row, contexts[b])));
      logits.dispose();
      logits = null;
      next.forEach((id, b) => {
        if (id < 0) return;
        contexts[b].push(id);
        if (stop.has(id)) done[b] = true;
      });
      yield { step, ids: next };
      // Let the event loop run between tokens (a server streams to other clients meanwhile).
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (done.every(Boolean) || step === opts.maxNewTokens - 1) break;
      const feed = next.map((id) => (id < 0 ? c.eosTokenId : id));
      const mask = prefillMask ? decodeMask(pads, cache.length + 1) : undefined;
      logits = noGrad(() =>
        scope(() => model.forward(Tensor.from(Int32Array.from(feed), [B, 1], 'i32'), cache, mask)),
      ).keep();
      mask?.dispose();
    }
  } finally {
    logits?.dispose();
    cache.dispose();
    prefillMask?.dispose();
  }
}

/** Runs generation to the end and returns each sequence's new ids (stop id included). */
export async function generateAll(
  model: MiniCPM,
  prompts: number[][],
  opts: GenerateOptions,
): Promise<number[][]> {
  const out = prompts.map(() => [] as number[]);
  for await (const s of generate(model, prompts, opts)) s.ids.forEach((id, b) => id >= 0 && out[b].push(id));
  return out;
}
