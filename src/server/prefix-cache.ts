/**
 * Prefix caching: the KV of finished prompts, kept so that a new prompt sharing a prefix with one of
 * them (a system prompt, few-shot examples, an earlier turn) copies those positions instead of
 * recomputing them. Only prompt positions are kept — they were computed by prefill passes, as the new
 * request would compute them, so reuse changes no bit of its output (see engine/batch-decode.ts).
 * Entries count against the scheduler's KV budget and are evicted least recently used first.
 */
import { KVCache } from '../models/kv-cache.js';
import type { MiniCPMConfig } from '../models/config.js';
import { noGrad, scope } from '../tensor/index.js';

interface Entry {
  tokens: number[];
  cache: KVCache;
  /** Positions allocated (the prompt rounded up, so that cache sizes recur in the tensor pool). */
  capacity: number;
  lastUsed: number;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Copies the first `length` positions of `src` into `dst` (both batch 1) and advances `dst`. */
export function copyPrefix(src: KVCache, dst: KVCache, length: number): void {
  noGrad(() =>
    scope(() => {
      for (let l = 0; l < src.numLayers; l++) {
        const { k, v } = src.read(l, length);
        dst.append(l, k, v);
      }
    }),
  );
  dst.advance(length);
}

export class PrefixCache {
  private entries: Entry[] = [];
  private clock = 0;
  hits = 0;
  reusedTokens = 0;

  constructor(private readonly config: MiniCPMConfig) {}

  /** KV positions held. */
  get size(): number {
    return this.entries.reduce((s, e) => s + e.capacity, 0);
  }

  get count(): number {
    return this.entries.length;
  }

  /**
   * Copies the longest cached prefix of `prompt` into `dst` — at most `limit` positions, a multiple
   * of `align` — and returns its length (0 when nothing matches).
   */
  reuse(prompt: readonly number[], dst: KVCache, limit: number, align = 1): number {
    let best: Entry | null = null;
    let len = 0;
    for (const e of this.entries) {
      const n = Math.floor(Math.min(commonPrefix(e.tokens, prompt), limit) / align) * align;
      if (n > len) [best, len] = [e, n];
    }
    if (!best || len === 0) return 0;
    best.lastUsed = ++this.clock;
    copyPrefix(best.cache, dst, len);
    this.hits++;
    this.reusedTokens += len;
    return len;
  }

  /** Keeps the prompt positions of a finished sequence (unless an entry already covers them). */
  add(prompt: readonly number[], src: KVCache): void {
    if (prompt.length < 2 || src.length < prompt.length) return;
    if (this.entries.some((e) => commonPrefix(e.tokens, prompt) === prompt.length)) return;
    // entries that are prefixes of this prompt are superseded by it
    this.entries = this.entries.filter((e) => {
      const covered = commonPrefix(e.tokens, prompt) === e.tokens.length;
      if (covered) e.cache.dispose();
      return !covered;
    });
    const c = this.config;
    const capacity = Math.ceil(prompt.length / 128) * 128;
    const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, capacity, src.dtype);
    copyPrefix(src, cache, prompt.length);
    this.entries.push({ tokens: [...prompt], cache, capacity, lastUsed: ++this.clock });
  }

  /** Drops least recently used entries until at most `size` positions are held; returns positions freed. */
  shrinkTo(size: number): number {
    let freed = 0;
    this.entries.sort((a, b) => a.lastUsed - b.lastUsed);
    while (this.entries.length && this.size > size) {
      const e = this.entries.shift()!;
      freed += e.capacity;
      e.cache.dispose();
    }
    return freed;
  }

  clear(): void {
    this.shrinkTo(0);
  }
}
