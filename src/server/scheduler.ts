/**
 * Continuous batching (llama.cpp's server slots, vLLM's scheduler): up to `parallel` sequences run at
 * once; every step decodes all of them in batched passes (engine/batch-decode.ts) and advances the
 * prefills of newly admitted ones by chunks of at most `prefillChunk` prompt tokens, so a long prompt
 * never stalls the streams already running. A sequence that ends (stop, length, cancel) frees its slot
 * and KV at once, and the next queued request takes it before the next step.
 *
 * Memory is bounded: each sequence reserves prompt + max_tokens KV positions when admitted, and the
 * reservations plus the prefix cache stay within `kvBudget`. A request waits in a bounded queue until
 * it fits; when the queue is full it is refused (the HTTP layer answers 503 with Retry-After).
 *
 * Exactness: a sequence's tokens do not depend on what runs beside it. Its sampler is its own, and
 * its logits are bitwise those of running it alone on the same server (same --prefill-chunk C),
 * because every row keeps its kernel class (see batch-decode.ts): decodes run row-exact (each row its
 * single-row GEMV result, the weights read once per pass of up to DECODE_GROUP sequences);
 * a prompt is prefilled in the fixed chunks [0, C), [C, 2C), … (attention blocks its query rows
 * within a chunk, so the chunking must not depend on other requests) in passes of ≥ 5 rows; and the
 * prefix cache hands over whole chunks only.
 */
import { DECODE_GROUP, decodeLogits, prefillLogits, type PackedSequence } from '../engine/batch-decode.js';
import type { Sampler } from '../engine/sampler.js';
import { KVCache, type KVCacheDtype } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import { MiniCPMVLanguage } from '../models/minicpmv.js';
import { chunkImageRows, type EmbedRows, type PromptImage } from '../models/minicpmv-splice.js';
import { PrefixCache } from './prefix-cache.js';

export interface SchedulerOptions {
  /** Sequences decoded together (slots). */
  parallel?: number;
  /**
   * Prompt tokens prefilled per step (≥ 2): prompts are prefilled in chunks of this size, as many
   * chunks per step as fit; also the granularity of prefix-cache reuse.
   */
  prefillChunk?: number;
  /** KV positions for all slots and the prefix cache together. */
  kvBudget?: number;
  /** Requests allowed to wait for a slot; more are refused. */
  maxQueue?: number;
  kvDtype?: KVCacheDtype;
  /** Keep finished prompts' KV for reuse by later prompts sharing a prefix (default true). */
  prefixCache?: boolean;
}

/** Restricts which tokens a sequence may produce (e.g. JSON mode). */
export interface TokenConstraint {
  /** A token that must come next (e.g. end of text once the JSON is complete), if any. */
  forced(): number | undefined;
  allow(id: number): boolean;
  accept(id: number): void;
}

/**
 * KV capacities and prefill pass rows are rounded up to these multiples, so that the shapes recur and
 * the tensor pool reuses their buffers instead of parking ever new sizes (RSS stays flat).
 */
const KV_ROUND = 128;
const ROWS_ROUND = 16;
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Redraws after a rejected token before the whole vocabulary is checked at once. */
const REDRAWS = 32;

export interface SequenceRequest {
  prompt: readonly number[];
  maxTokens: number;
  sampler: Sampler;
  stopIds: readonly number[];
  /** Each new token with its logits row; returning false ends the sequence (e.g. a stop string). */
  onToken: (id: number, logits: Float32Array) => boolean | void;
  constraint?: TokenConstraint;
  /** Aborting cancels the sequence (waiting or running); the promise resolves with 'cancelled'. */
  signal?: AbortSignal;
  /**
   * MiniCPM-V: image tokens spliced into the prompt's spans during its prefill. The prefix cache
   * reuses only whole chunks before the first span and keeps no prompt that has images.
   */
  images?: readonly PromptImage[];
}

export type SequenceFinish = 'stop' | 'length' | 'cancelled';

export interface SequenceResult {
  promptTokens: number;
  completionTokens: number;
  /** Prompt positions copied from the prefix cache instead of computed. */
  cachedTokens: number;
  finish: SequenceFinish;
}

export class SchedulerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchedulerError';
  }
}

/** The queue is full or the scheduler is closing: try again after `retryAfter` seconds. */
export class SchedulerBusyError extends Error {
  constructor(
    message: string,
    readonly retryAfter: number,
  ) {
    super(message);
    this.name = 'SchedulerBusyError';
  }
}

interface Sequence {
  req: SequenceRequest;
  cache: KVCache;
  reserved: number;
  /** Prompt tokens whose KV is cached (prefilled or copied). */
  done: number;
  cachedTokens: number;
  generated: number[];
  context: number[];
  last: number;
  resolve: (r: SequenceResult) => void;
  reject: (e: Error) => void;
}

interface Waiting {
  req: SequenceRequest;
  resolve: (r: SequenceResult) => void;
  reject: (e: Error) => void;
}

export interface SchedulerStats {
  active: number;
  queued: number;
  parallel: number;
  kvReserved: number;
  kvBudget: number;
  prefixEntries: number;
  prefixTokens: number;
  prefixHits: number;
}

export class Scheduler {
  readonly parallel: number;
  readonly prefillChunk: number;
  readonly kvBudget: number;
  readonly maxQueue: number;
  readonly kvDtype: KVCacheDtype;
  private readonly prefix: PrefixCache | null;
  private active: Sequence[] = [];
  private queue: Waiting[] = [];
  private running: Promise<void> | null = null;
  private closing = false;
  /** Called after every step (metrics). */
  onStep: ((s: { decoded: number; prefilled: number }) => void) | null = null;

  constructor(
    readonly model: MiniCPM,
    o: SchedulerOptions = {},
  ) {
    const c = model.config;
    this.parallel = o.parallel ?? 4;
    this.prefillChunk = o.prefillChunk ?? 256;
    this.kvBudget = o.kvBudget ?? this.parallel * c.maxPositionEmbeddings;
    this.maxQueue = o.maxQueue ?? 64;
    this.kvDtype = o.kvDtype ?? 'f32';
    const bad = (what: string) => {
      throw new SchedulerError(what);
    };
    if (!(Number.isInteger(this.parallel) && this.parallel >= 1))
      bad(`--parallel must be an integer ≥ 1, got ${this.parallel}`);
    if (!(Number.isInteger(this.prefillChunk) && this.prefillChunk >= 2))
      bad(`--prefill-chunk must be an integer ≥ 2, got ${this.prefillChunk}`);
    if (!(Number.isInteger(this.kvBudget) && this.kvBudget >= 2))
      bad(`--kv-budget must be an integer ≥ 2, got ${this.kvBudget}`);
    if (!(Number.isInteger(this.maxQueue) && this.maxQueue >= 0))
      bad(`--max-queue must be an integer ≥ 0, got ${this.maxQueue}`);
    this.prefix = o.prefixCache === false ? null : new PrefixCache(c);
  }

  stats(): SchedulerStats {
    return {
      active: this.active.length,
      queued: this.queue.length,
      parallel: this.parallel,
      kvReserved: this.reserved(),
      kvBudget: this.kvBudget,
      prefixEntries: this.prefix?.count ?? 0,
      prefixTokens: this.prefix?.size ?? 0,
      prefixHits: this.prefix?.hits ?? 0,
    };
  }

  /** Runs one sequence; resolves when it ends. Throws SchedulerError / SchedulerBusyError when refused. */
  submit(req: SequenceRequest): Promise<SequenceResult> {
    if (req.prompt.length === 0) throw new SchedulerError('the prompt is empty');
    if (!(Number.isInteger(req.maxTokens) && req.maxTokens >= 1))
      throw new SchedulerError(`max tokens must be an integer ≥ 1, got ${req.maxTokens}`);
    const need = req.prompt.length + req.maxTokens;
    if (need > this.kvBudget)
      throw new SchedulerError(
        `the prompt (${req.prompt.length} tokens) plus max_tokens (${req.maxTokens}) needs ${need} KV positions; the server's KV budget is ${this.kvBudget}`,
      );
    const refused = this.refusal(1);
    if (refused) throw refused;
    return new Promise<SequenceResult>((resolve, reject) => {
      const w: Waiting = { req, resolve, reject };
      this.queue.push(w);
      req.signal?.addEventListener('abort', () => {
        const i = this.queue.indexOf(w);
        if (i < 0) return; // running: the loop notices at its next step
        this.queue.splice(i, 1);
        resolve({
          promptTokens: req.prompt.length,
          completionTokens: 0,
          cachedTokens: 0,
          finish: 'cancelled',
        });
      });
      this.kick();
    });
  }

  /** Why `count` more requests would be refused now (closing, or the queue would overflow), or null. */
  refusal(count: number): SchedulerBusyError | null {
    if (this.closing) return new SchedulerBusyError('the server is shutting down', 5);
    const free = Math.max(0, this.parallel - this.active.length - this.queue.length);
    if (this.queue.length + Math.max(0, count - free) > this.maxQueue)
      return new SchedulerBusyError(
        `all ${this.parallel} slots are busy and ${this.queue.length} requests are waiting`,
        1 + Math.floor(this.queue.length / this.parallel),
      );
    return null;
  }

  /** Refuses new requests, drops waiting ones (as busy) and resolves when running ones have finished. */
  async close(): Promise<void> {
    this.closing = true;
    for (const w of this.queue.splice(0)) w.reject(new SchedulerBusyError('the server is shutting down', 5));
    await this.running;
    this.prefix?.clear();
  }

  private reserved(): number {
    return this.active.reduce((s, q) => s + q.reserved, 0);
  }

  private kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = null;
      if (this.queue.length) this.kick();
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.admit();
      if (this.active.length === 0) return;
      try {
        this.step();
      } catch (e) {
        if (this.model instanceof MiniCPMVLanguage) this.model.withEmbedRows([]); // no stale image rows
        for (const s of this.active.splice(0)) {
          s.cache.dispose();
          s.reject(e as Error);
        }
      }
      // let the event loop deliver streamed tokens and accept requests between steps
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Moves queued requests into free slots while their reservations fit the budget. */
  private admit(): void {
    const c = this.model.config;
    while (this.queue.length && this.active.length < this.parallel) {
      const w = this.queue[0];
      const need = Math.min(roundUp(w.req.prompt.length + w.req.maxTokens, KV_ROUND), this.kvBudget);
      const free = this.kvBudget - this.reserved();
      if (this.prefix && need > free - this.prefix.size) this.prefix.shrinkTo(Math.max(0, free - need));
      if (need > free - (this.prefix?.size ?? 0)) return; // wait for a running sequence to end
      this.queue.shift();
      const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, need, this.kvDtype);
      const prompt = w.req.prompt;
      // reuse whole grid chunks, and always leave the last prompt token to compute (its logits)
      const C = this.prefillChunk;
      const reusable = Math.min(prompt.length - 1, ...(w.req.images ?? []).map((im) => im.start));
      const cachedTokens = this.prefix
        ? this.prefix.reuse(prompt, cache, Math.floor(reusable / C) * C, C)
        : 0;
      this.active.push({
        req: w.req,
        cache,
        reserved: need,
        done: cachedTokens,
        cachedTokens,
        generated: [],
        context: [...prompt],
        last: -1,
        resolve: w.resolve,
        reject: w.reject,
      });
    }
  }

  /** One step: a decode pass per group of running sequences, then a prefill pass. */
  private step(): void {
    for (const s of [...this.active]) if (s.req.signal?.aborted) this.finish(s, 'cancelled');
    const decoding = this.active.filter((s) => s.done === s.req.prompt.length);
    for (let g = 0; g < decoding.length; g += DECODE_GROUP) {
      const group = decoding.slice(g, g + DECODE_GROUP);
      const rows = decodeLogits(
        this.model,
        group.map((s): PackedSequence => ({ cache: s.cache, tokens: [s.last] })),
      );
      group.forEach((s, i) => this.emit(s, rows[i]));
    }
    // Whole grid chunks only (a prompt's chunks are [0, C), [C, 2C), …, the same alone or batched),
    // first come first served, as many as fit in C tokens (always at least one).
    const C = this.prefillChunk;
    let budget = C;
    const chunks: { s: Sequence; n: number }[] = [];
    for (const s of this.active) {
      const left = s.req.prompt.length - s.done;
      if (left === 0) continue;
      const n = Math.min(left, C - (s.done % C));
      if (chunks.length && n > budget) break;
      chunks.push({ s, n });
      budget -= n;
      if (budget <= 0) break;
    }
    if (chunks.length) {
      const total = chunks.reduce((a, c) => a + c.n, 0);
      this.armImages(chunks);
      const rows = prefillLogits(
        this.model,
        chunks.map(({ s, n }) => ({ cache: s.cache, tokens: s.req.prompt.slice(s.done, s.done + n) })),
        roundUp(total, ROWS_ROUND),
      );
      chunks.forEach(({ s, n }, i) => {
        s.done += n;
        if (s.done === s.req.prompt.length) this.emit(s, rows[i]);
      });
    }
    this.onStep?.({ decoded: decoding.length, prefilled: chunks.reduce((a, c) => a + c.n, 0) });
  }

  /**
   * MiniCPM-V: the rows of the coming prefill pass that fall in image spans take the images' tokens.
   * The pass packs the chunks in order with no gap between them (engine/batch-decode.ts), so chunk i
   * starts at the sum of the chunks before it.
   */
  private armImages(chunks: readonly { s: Sequence; n: number }[]): void {
    const rows: EmbedRows[] = [];
    let at = 0;
    for (const { s, n } of chunks) {
      if (s.req.images?.length) rows.push(...chunkImageRows(s.req.images, s.done, n, at));
      at += n;
    }
    if (!rows.length) return;
    if (!(this.model instanceof MiniCPMVLanguage))
      throw new SchedulerError('a request with images needs a MiniCPM-V model');
    this.model.withEmbedRows(rows);
  }

  /** Samples the sequence's next token from `row`, hands it over, and ends the sequence if due. */
  private emit(s: Sequence, row: Float32Array): void {
    if (!this.active.includes(s)) return;
    const id = this.pick(s, row);
    s.generated.push(id);
    s.context.push(id);
    s.last = id;
    let more = true;
    try {
      more = s.req.onToken(id, row) !== false;
    } catch (e) {
      this.remove(s);
      s.reject(e as Error);
      return;
    }
    if (s.req.stopIds.includes(id) || !more) this.finish(s, 'stop');
    else if (s.generated.length >= s.req.maxTokens) this.finish(s, 'length');
  }

  /**
   * The sampler's draw, or under a constraint a draw from the distribution restricted to allowed
   * tokens: rejected tokens are masked and the draw repeated (rejection sampling), and after a few
   * rejections every disallowed token is masked at once.
   */
  private pick(s: Sequence, row: Float32Array): number {
    const c = s.req.constraint;
    const forced = c?.forced();
    let id = forced ?? s.req.sampler.sample(row, s.context);
    if (c && forced === undefined && !c.allow(id)) {
      const masked = row.slice();
      for (let i = 0; ; i++) {
        masked[id] = -Infinity;
        if (i === REDRAWS) for (let v = 0; v < masked.length; v++) if (!c.allow(v)) masked[v] = -Infinity;
        if (!masked.some((x) => x > -Infinity)) throw new Error('no token can continue the constrained text');
        id = s.req.sampler.sample(masked, s.context);
        if (c.allow(id)) break;
      }
    }
    c?.accept(id);
    return id;
  }

  private remove(s: Sequence): void {
    this.active.splice(this.active.indexOf(s), 1);
    if (this.prefix && s.done === s.req.prompt.length && !s.req.images?.length) {
      this.prefix.add(s.req.prompt, s.cache);
      this.prefix.shrinkTo(this.kvBudget - this.reserved());
    }
    s.cache.dispose();
  }

  private finish(s: Sequence, finish: SequenceFinish): void {
    this.remove(s);
    s.resolve({
      promptTokens: s.req.prompt.length,
      completionTokens: s.generated.length,
      cachedTokens: s.cachedTokens,
      finish,
    });
  }
}
