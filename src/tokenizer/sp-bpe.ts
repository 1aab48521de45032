/**
 * SentencePiece's BPE segmentation (bpe_model.cc), reproduced exactly and made fast:
 *
 * - the normalized text is split into characters, except that user-defined pieces are matched whole
 *   (longest match) and frozen;
 * - repeatedly the adjacent pair whose concatenation is a piece with the highest score is merged, the
 *   leftmost pair winning ties;
 * - a resulting UNUSED piece is resegmented into the pair that formed it;
 * - a symbol that is not a piece becomes `<unk>`, or its UTF-8 bytes `<0xNN>` under byte fallback.
 *
 * Speed: every piece is split once at load time into (left symbol, right symbol) pairs stored in a typed
 * hash table, so merging never builds strings. The text is cut into independent segments at user-defined
 * pieces and before a "▁" that no piece can be merged across; segments are cached (most are words).
 */
import { PairTable } from './pair-table.js';
import { PrefixMatcher } from './prefix-matcher.js';
import { PieceType } from './types.js';

export interface SpBpeVocab {
  pieces: readonly string[];
  scores: ArrayLike<number>;
  types: ArrayLike<number>;
  unkId: number;
  byteFallback: boolean;
  /** Model quirk of llama.cpp vocabularies: duplicates are tolerated (first wins) instead of rejected. */
  allowDuplicates?: boolean;
}

const SPACE = 0x2581;
const SMALL = 24; // segments up to this many symbols use the O(n²) scan, longer ones the heap
const CACHE_LIMIT = 1 << 17;
const CACHE_MAX_KEY = 64;

export class SpBpe {
  readonly size: number;
  /** Normal, user-defined and unused pieces: what merges may produce (SentencePiece's `pieces_`). */
  readonly pieceIds = new Map<string, number>();
  /** Control, unknown and byte pieces (`reserved_id_map_`). */
  readonly reservedIds = new Map<string, number>();
  readonly byteIds = new Int32Array(256).fill(-1);
  readonly userDefined: PrefixMatcher;
  readonly duplicates: string[] = [];
  private readonly types: Uint8Array;
  private readonly scores: Float64Array;
  private readonly unkId: number;
  private readonly byteFallback: boolean;
  private readonly charSym = new Int32Array(65536).fill(-1);
  private readonly astralSym = new Map<number, number>();
  private readonly pairs: PairTable;
  private readonly joinBeforeSpace = new Uint8Array(65536);
  private readonly hasUnused: boolean;
  private readonly cache = new Map<string, Int32Array>();
  // Scratch buffers reused across calls (grown on demand).
  private sym = new Int32Array(256);
  private start = new Int32Array(256);
  private aux = new Int32Array(256);
  private nextA = new Int32Array(256);
  private prevA = new Int32Array(256);
  private flags = new Uint8Array(256);
  private segOut: number[] = [];

  constructor(vocab: SpBpeVocab) {
    const n = vocab.pieces.length;
    this.size = n;
    this.unkId = vocab.unkId;
    this.byteFallback = vocab.byteFallback;
    this.types = Uint8Array.from(vocab.types);
    this.scores = Float64Array.from(vocab.scores);
    const userDefined: string[] = [];
    let hasUnused = false;
    for (let i = 0; i < n; i++) {
      const piece = vocab.pieces[i];
      const type = this.types[i];
      const normal = type === PieceType.Normal || type === PieceType.UserDefined || type === PieceType.Unused;
      const map = normal ? this.pieceIds : this.reservedIds;
      if (map.has(piece)) {
        this.duplicates.push(piece);
        continue;
      }
      map.set(piece, i);
      if (type === PieceType.UserDefined) userDefined.push(piece);
      if (type === PieceType.Unused) hasUnused = true;
      if (type === PieceType.Byte) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
        if (m) this.byteIds[parseInt(m[1], 16)] = i;
      }
    }
    this.hasUnused = hasUnused;
    this.userDefined = new PrefixMatcher(userDefined);
    this.pairs = new PairTable(n * 2);
    this.buildSymbols();
  }

  /** Assigns a symbol id to every character and registers every (left, right) split of every piece. */
  private buildSymbols(): void {
    const virtual = new Map<number, number>();
    let nextVirtual = this.size;
    const symOfChar = (cp: number): number => {
      const id = cp < 0x10000 ? this.charSym[cp] : (this.astralSym.get(cp) ?? -1);
      if (id >= 0) return id;
      let v = virtual.get(cp);
      if (v === undefined) {
        v = nextVirtual++;
        virtual.set(cp, v);
        this.setCharSym(cp, v);
      }
      return v;
    };
    // Single characters that are pieces first, so a character's symbol is its own piece id when it has one.
    for (const [piece, id] of this.pieceIds) {
      const cp = piece.codePointAt(0)!;
      if (piece.length === (cp > 0xffff ? 2 : 1)) this.setCharSym(cp, id);
    }
    const bounds: number[] = [];
    for (const [piece, id] of this.pieceIds) {
      bounds.length = 0;
      for (let j = 0; j < piece.length;) {
        const cp = piece.codePointAt(j)!;
        const w = cp > 0xffff ? 2 : 1;
        if (cp === SPACE && j > 0) this.joinBeforeSpace[piece.charCodeAt(j - 1)] = 1;
        j += w;
        bounds.push(j);
      }
      if (bounds.length < 2) continue;
      for (let k = 0; k < bounds.length - 1; k++) {
        const cut = bounds[k];
        const left = k === 0 ? symOfChar(piece.codePointAt(0)!) : this.pieceIds.get(piece.slice(0, cut));
        if (left === undefined) continue;
        const right =
          k === bounds.length - 2 ? symOfChar(piece.codePointAt(cut)!) : this.pieceIds.get(piece.slice(cut));
        if (right === undefined) continue;
        this.pairs.setIfAbsent(left, right, id);
      }
    }
  }

  private setCharSym(cp: number, id: number): void {
    if (cp < 0x10000) this.charSym[cp] = id;
    else this.astralSym.set(cp, id);
  }

  pieceType(id: number): number {
    return this.types[id];
  }

  /** Appends the ids of an already normalized string to `out`. */
  encodeNormalized(s: string, out: number[]): void {
    if (s.length === 0) return;
    if (this.hasUnused) {
      this.encodeExact(s, out);
      return;
    }
    const ud = this.userDefined;
    const udFirst = ud.empty ? undefined : ud;
    const join = this.joinBeforeSpace;
    const n = s.length;
    let segStart = 0;
    for (let i = 0; i < n;) {
      const c = s.charCodeAt(i);
      if (udFirst !== undefined) {
        const len = udFirst.matchString(s, i);
        if (len > 0) {
          if (i > segStart) this.encodeSegment(s, segStart, i, out);
          out.push(this.pieceIds.get(s.slice(i, i + len))!);
          i += len;
          segStart = i;
          continue;
        }
      }
      if (c === SPACE && i > segStart && join[s.charCodeAt(i - 1)] === 0) {
        this.encodeSegment(s, segStart, i, out);
        segStart = i;
      }
      i++;
    }
    if (n > segStart) this.encodeSegment(s, segStart, n, out);
  }

  private encodeSegment(s: string, a: number, b: number, out: number[]): void {
    const cacheable = b - a <= CACHE_MAX_KEY;
    let key = '';
    if (cacheable) {
      key = s.slice(a, b);
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]);
        return;
      }
    }
    const seg = this.segOut;
    seg.length = 0;
    const m = this.loadSymbols(s, a, b, false);
    if (m <= SMALL) this.mergeSmall(s, m, seg);
    else this.mergeHeap(s, m, seg, undefined);
    for (let i = 0; i < seg.length; i++) out.push(seg[i]);
    if (cacheable) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(key, Int32Array.from(seg));
    }
  }

  /** Fills the scratch arrays with one symbol per character (or frozen user-defined piece); returns count. */
  private loadSymbols(s: string, a: number, b: number, matchUserDefined: boolean): number {
    if (this.sym.length < b - a + 1) this.growScratch(b - a + 1);
    const { sym, start, flags, charSym } = this;
    const ud = this.userDefined;
    let m = 0;
    for (let j = a; j < b;) {
      if (matchUserDefined) {
        const len = ud.matchString(s, j);
        if (len > 0) {
          sym[m] = this.pieceIds.get(s.slice(j, j + len))!;
          start[m] = j;
          flags[m++] = 1;
          j += len;
          continue;
        }
      }
      const c = s.charCodeAt(j);
      let id: number;
      const cp = c >= 0xd800 && c < 0xdc00 ? s.codePointAt(j)! : c;
      if (cp > 0xffff) {
        id = this.astralSym.get(cp) ?? -1;
        start[m] = j;
        j += 2;
      } else {
        id = charSym[c];
        start[m] = j;
        j += 1;
      }
      sym[m] = id;
      flags[m++] = 0;
    }
    return m;
  }

  private growScratch(n: number): void {
    let cap = this.sym.length;
    while (cap < n) cap *= 2;
    this.sym = new Int32Array(cap);
    this.start = new Int32Array(cap);
    this.aux = new Int32Array(cap);
    this.nextA = new Int32Array(cap);
    this.prevA = new Int32Array(cap);
    this.flags = new Uint8Array(cap);
  }

  /** Best-pair scan for short segments: same result as the heap (max score, leftmost on ties). */
  private mergeSmall(s: string, m: number, out: number[]): void {
    const { sym, start, pairs, scores } = this;
    const merged = this.aux;
    for (let i = 0; i + 1 < m; i++)
      merged[i] = sym[i] >= 0 && sym[i + 1] >= 0 ? pairs.get(sym[i], sym[i + 1]) : -1;
    while (m > 1) {
      let best = -1;
      let bestScore = 0;
      for (let i = 0; i + 1 < m; i++) {
        const id = merged[i];
        if (id >= 0 && (best < 0 || scores[id] > bestScore)) {
          best = i;
          bestScore = scores[id];
        }
      }
      if (best < 0) break;
      sym[best] = merged[best];
      for (let i = best + 1; i + 1 < m; i++) {
        sym[i] = sym[i + 1];
        start[i] = start[i + 1];
        merged[i] = merged[i + 1];
      }
      m--;
      if (best > 0) merged[best - 1] = sym[best - 1] >= 0 ? pairs.get(sym[best - 1], sym[best]) : -1;
      if (best + 1 < m) merged[best] = sym[best + 1] >= 0 ? pairs.get(sym[best], sym[best + 1]) : -1;
    }
    for (let i = 0; i < m; i++) this.emit(s, sym[i], start[i], out);
  }

  /**
   * The C++ agenda: a max-heap of candidate pairs (score, then smaller left index). Stale entries are
   * skipped when either side changed since they were pushed. `revMerge`, when given, records for each
   * UNUSED piece the last pair that was proposed to form it (SentencePiece's rev_merge, last writer wins).
   */
  private mergeHeap(
    s: string,
    m: number,
    out: number[],
    revMerge: Map<number, [number, number]> | undefined,
  ): void {
    const { sym, start, flags, pairs, scores } = this;
    const next = this.nextA;
    const prev = this.prevA;
    const heap = new Heap(m * 2);
    const types = this.types;
    for (let i = 0; i < m; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < m ? i + 1 : -1;
    }
    const alive = new Uint8Array(m).fill(1);
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0 || flags[l] === 1 || flags[r] === 1) return;
      const sl = sym[l];
      const sr = sym[r];
      if (sl < 0 || sr < 0) return;
      const id = pairs.get(sl, sr);
      if (id < 0) return;
      heap.push(scores[id], l, r, sl, sr, id);
      if (revMerge !== undefined && types[id] === PieceType.Unused) revMerge.set(id, [sl, sr]);
    };
    for (let i = 1; i < m; i++) tryAdd(i - 1, i);
    while (heap.size > 0) {
      const e = heap.pop();
      const l = heap.left[e];
      const r = heap.right[e];
      if (!alive[l] || !alive[r] || next[l] !== r || sym[l] !== heap.symL[e] || sym[r] !== heap.symR[e])
        continue;
      sym[l] = heap.merged[e];
      alive[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }
    for (let i = 0; i >= 0 && i < m; i = next[i]) {
      if (revMerge !== undefined) this.resegment(s, sym[i], start[i], revMerge, out);
      else this.emit(s, sym[i], start[i], out);
    }
  }

  private resegment(
    s: string,
    id: number,
    at: number,
    revMerge: Map<number, [number, number]>,
    out: number[],
  ): void {
    if (id >= 0 && id < this.size && this.types[id] === PieceType.Unused) {
      const p = revMerge.get(id);
      if (p !== undefined) {
        this.resegment(s, p[0], at, revMerge, out);
        this.resegment(s, p[1], at, revMerge, out);
        return;
      }
    }
    this.emit(s, id, at, out);
  }

  /** Whole-sentence agenda, used only when the model has UNUSED pieces (rev_merge is sentence-global). */
  private encodeExact(s: string, out: number[]): void {
    const m = this.loadSymbols(s, 0, s.length, true);
    this.mergeHeap(s, m, out, new Map());
  }

  /** Emits a final symbol: a piece id, or unknown-character handling for the character at `at`. */
  private emit(s: string, symId: number, at: number, out: number[]): void {
    if (symId >= 0 && symId < this.size) {
      out.push(symId);
      return;
    }
    if (!this.byteFallback) {
      out.push(this.unkId);
      return;
    }
    const cp = s.codePointAt(at)!;
    if (cp < 0x80) this.pushByte(cp, out);
    else if (cp < 0x800) {
      this.pushByte(0xc0 | (cp >> 6), out);
      this.pushByte(0x80 | (cp & 63), out);
    } else if (cp < 0x10000) {
      this.pushByte(0xe0 | (cp >> 12), out);
      this.pushByte(0x80 | ((cp >> 6) & 63), out);
      this.pushByte(0x80 | (cp & 63), out);
    } else {
      this.pushByte(0xf0 | (cp >> 18), out);
      this.pushByte(0x80 | ((cp >> 12) & 63), out);
      this.pushByte(0x80 | ((cp >> 6) & 63), out);
      this.pushByte(0x80 | (cp & 63), out);
    }
  }

  private pushByte(b: number, out: number[]): void {
    const id = this.byteIds[b];
    out.push(id >= 0 ? id : this.unkId);
  }
}

/** Binary max-heap of merge candidates over parallel typed arrays (entry ids index the arrays). */
class Heap {
  score: Float64Array;
  left: Int32Array;
  right: Int32Array;
  symL: Int32Array;
  symR: Int32Array;
  merged: Int32Array;
  private heap: Int32Array;
  private count = 0;
  size = 0;

  constructor(cap: number) {
    cap = Math.max(cap, 16);
    this.score = new Float64Array(cap);
    this.left = new Int32Array(cap);
    this.right = new Int32Array(cap);
    this.symL = new Int32Array(cap);
    this.symR = new Int32Array(cap);
    this.merged = new Int32Array(cap);
    this.heap = new Int32Array(cap);
  }

  private before(a: number, b: number): boolean {
    const sa = this.score[a];
    const sb = this.score[b];
    return sa > sb || (sa === sb && this.left[a] < this.left[b]);
  }

  push(score: number, l: number, r: number, sl: number, sr: number, merged: number): void {
    if (this.count === this.score.length) this.grow();
    const e = this.count++;
    this.score[e] = score;
    this.left[e] = l;
    this.right[e] = r;
    this.symL[e] = sl;
    this.symR[e] = sr;
    this.merged[e] = merged;
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(e, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  pop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h[--this.size];
    let i = 0;
    const n = this.size;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(h[c + 1], h[c])) c++;
      if (!this.before(h[c], last)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = last;
    return top;
  }

  private grow(): void {
    const cap = this.score.length * 2;
    const g = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.score = g(this.score, (n) => new Float64Array(n));
    this.left = g(this.left, (n) => new Int32Array(n));
    this.right = g(this.right, (n) => new Int32Array(n));
    this.symL = g(this.symL, (n) => new Int32Array(n));
    this.symR = g(this.symR, (n) => new Int32Array(n));
    this.merged = g(this.merged, (n) => new Int32Array(n));
    this.heap = g(this.heap, (n) => new Int32Array(n));
  }
}
