/**
 * Hugging Face `tokenizers` BPE (model type "BPE" of tokenizer.json, and byte-level GPT-2 vocabularies):
 * a word starts as characters (or `<0xNN>` byte tokens under byte_fallback, or `<unk>`), then the pair
 * with the lowest merge rank is merged, the leftmost winning ties; a queued merge is applied only if the
 * pair now at its position still produces the same token (the Rust `Word::merge_all` check).
 */
import { PairTable } from './pair-table.js';
import { pushUtf8 } from './utf8.js';

export interface RankBpeOptions {
  vocab: Map<string, number>;
  /** Merges in rank order, as [left, right] token strings. */
  merges: [string, string][];
  unkId?: number;
  byteFallback?: boolean;
  fuseUnk?: boolean;
  ignoreMerges?: boolean;
  continuingSubwordPrefix?: string;
  endOfWordSuffix?: string;
}

const CACHE_LIMIT = 1 << 17;
const CACHE_MAX_KEY = 64;
const SPACE = 0x2581;

export class RankBpe {
  readonly vocab: Map<string, number>;
  private readonly pairs: PairTable;
  private readonly rankNew: Int32Array;
  private readonly unkId: number;
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly opts: RankBpeOptions;
  private readonly cache = new Map<string, Int32Array>();
  /** Code units that some merge result has right before "▁" (see splitAtSpaces). */
  private readonly joinBeforeSpace = new Uint8Array(65536);
  readonly missingMerges: string[] = [];

  constructor(opts: RankBpeOptions) {
    this.opts = opts;
    this.vocab = opts.vocab;
    this.unkId = opts.unkId ?? -1;
    if (opts.byteFallback) {
      for (let b = 0; b < 256; b++) {
        const id = opts.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
        if (id !== undefined) this.byteIds[b] = id;
      }
    }
    this.pairs = new PairTable(opts.merges.length);
    this.rankNew = new Int32Array(opts.merges.length);
    const prefixLen = opts.continuingSubwordPrefix?.length ?? 0;
    for (let rank = 0; rank < opts.merges.length; rank++) {
      const [a, b] = opts.merges[rank];
      const ia = opts.vocab.get(a);
      const ib = opts.vocab.get(b);
      const merged = a + b.slice(prefixLen);
      const im = opts.vocab.get(merged);
      if (ia === undefined || ib === undefined || im === undefined) {
        this.missingMerges.push(`${a} ${b}`);
        continue;
      }
      // A repeated pair takes its last rank: the Rust model collects the list into a map.
      this.pairs.set(ia, ib, rank);
      this.rankNew[rank] = im;
      for (let j = 1; j < merged.length; j++) {
        if (merged.charCodeAt(j) === SPACE) this.joinBeforeSpace[merged.charCodeAt(j - 1)] = 1;
      }
    }
  }

  /** Encodes a whole pre-token ("word"), with a cache. */
  encodeWord(word: string, out: number[]): void {
    if (word.length === 0) return;
    const cacheable = word.length <= CACHE_MAX_KEY;
    if (cacheable) {
      const hit = this.cache.get(word);
      if (hit !== undefined) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]);
        return;
      }
    }
    const ids: number[] = [];
    this.mergeWord(word, ids);
    for (const id of ids) out.push(id);
    if (cacheable) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, Int32Array.from(ids));
    }
  }

  /**
   * Encodes a long text that is a single word (no pre-tokenizer, as Llama-style tokenizer.json files): it is
   * cut before every "▁" that no merge result contains after its preceding character. No merge can cross
   * such a cut, so the result equals merging the whole text, and the pieces hit the word cache.
   */
  encodeUnsplit(text: string, out: number[]): void {
    const o = this.opts;
    if (o.ignoreMerges || o.continuingSubwordPrefix || o.endOfWordSuffix || (o.fuseUnk && !o.byteFallback)) {
      this.encodeWord(text, out);
      return;
    }
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (text.charCodeAt(i) === SPACE && this.joinBeforeSpace[text.charCodeAt(i - 1)] === 0) {
        this.encodeWord(text.slice(start, i), out);
        start = i;
      }
    }
    this.encodeWord(text.slice(start), out);
  }

  private mergeWord(word: string, out: number[]): void {
    const o = this.opts;
    if (o.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    // Initial symbols.
    const sym: number[] = [];
    let lastUnk = false;
    const prefix = o.continuingSubwordPrefix ?? '';
    const suffix = o.endOfWordSuffix ?? '';
    for (let j = 0; j < word.length;) {
      const cp = word.codePointAt(j)!;
      const w = cp > 0xffff ? 2 : 1;
      let s = word.slice(j, j + w);
      if (j > 0) s = prefix + s;
      if (j + w >= word.length) s += suffix;
      j += w;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        sym.push(id);
        lastUnk = false;
        continue;
      }
      if (o.byteFallback) {
        const bytes: number[] = [];
        pushUtf8(cp, bytes);
        if (bytes.every((b) => this.byteIds[b] >= 0)) {
          for (const b of bytes) sym.push(this.byteIds[b]);
          lastUnk = false;
          continue;
        }
      }
      if (this.unkId < 0) {
        throw new RangeError(
          `character ${JSON.stringify(s)} is not in the vocabulary and the model has no unk token`,
        );
      }
      if (!(o.fuseUnk && lastUnk)) sym.push(this.unkId);
      lastUnk = true;
    }
    this.mergeAll(sym, out);
  }

  private mergeAll(sym: number[], out: number[]): void {
    const n = sym.length;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const dead = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Min-heap of (rank, pos), packed as rank * 2^21 + pos in a float64 (exact below 2^53).
    const heap: number[] = [];
    const push = (v: number) => {
      let i = heap.length;
      heap.push(v);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= v) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = v;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        let i = 0;
        for (;;) {
          let c = 2 * i + 1;
          if (c >= heap.length) break;
          if (c + 1 < heap.length && heap[c + 1] < heap[c]) c++;
          if (heap[c] >= last) break;
          heap[i] = heap[c];
          i = c;
        }
        heap[i] = last;
      }
      return top;
    };
    const SHIFT = 2097152;
    const consider = (l: number) => {
      const r = next[l];
      if (l < 0 || r < 0) return;
      const rank = this.pairs.get(sym[l], sym[r]);
      if (rank >= 0) push(rank * SHIFT + l);
    };
    if (n >= SHIFT) throw new RangeError(`a single word of ${n} symbols is too long to encode`);
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const top = pop();
      const pos = top % SHIFT;
      const rank = (top - pos) / SHIFT;
      if (dead[pos] || next[pos] < 0) continue;
      const r = next[pos];
      const cur = this.pairs.get(sym[pos], sym[r]);
      if (cur < 0 || this.rankNew[cur] !== this.rankNew[rank]) continue;
      sym[pos] = this.rankNew[rank];
      dead[r] = 1;
      next[pos] = next[r];
      if (next[r] >= 0) prev[next[r]] = pos;
      if (prev[pos] >= 0) consider(prev[pos]);
      consider(pos);
    }
    for (let i = 0; i >= 0 && i < n; i = next[i]) out.push(sym[i]);
  }
}
