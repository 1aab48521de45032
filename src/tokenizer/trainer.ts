/**
 * SentencePiece-style BPE training (MiniCPM's settings by default): normalize lines, cut them into chunks
 * that no valid piece can cross (whitespace, script changes, digits, user-defined symbols, rare
 * characters), keep the characters that cover `characterCoverage` of the text, then merge the most frequent
 * valid pair until the vocabulary is full.
 *
 * Speed: chunks are counted once (a corpus has far fewer distinct chunks than characters); pair counts
 * are updated incrementally from per-pair occurrence lists, and a lazy max-heap picks the next merge, so
 * each merge costs only its occurrences.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { TrainerError } from './errors.js';
import { SpNormalizer, SPACE_SYMBOL } from './normalizer.js';
import { PairTable } from './pair-table.js';
import { PrefixMatcher } from './prefix-matcher.js';
import { CharClasses, CLASS_DIGIT, CLASS_INHERITED } from './trainer-chars.js';

export interface TrainOptions {
  vocabSize: number;
  characterCoverage?: number;
  byteFallback?: boolean;
  /** Matched whole before BPE and never merged (MiniCPM: "\n", "\t", HTML tags, …). */
  userDefinedSymbols?: string[];
  controlSymbols?: string[];
  maxPieceLength?: number;
  splitDigits?: boolean;
  splitByUnicodeScript?: boolean;
  splitByNumber?: boolean;
  allowWhitespaceOnlyPieces?: boolean;
  addDummyPrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  onProgress?: (p: TrainProgress) => void;
}

export interface TrainProgress {
  phase: 'read' | 'count' | 'merge' | 'done';
  /** Bytes read (read), merges done (merge). */
  done: number;
  total?: number;
  detail?: string;
}

export interface TrainedPiece {
  piece: string;
  score: number;
  /** SentencePiece piece type. */
  type: number;
}

export interface TrainResult {
  pieces: TrainedPiece[];
  options: Required<Omit<TrainOptions, 'onProgress'>>;
  /** Merges in the order they were learned (for tokenizer.json). */
  stats: {
    bytes: number;
    lines: number;
    chunks: number;
    requiredChars: number;
    merges: number;
    seconds: number;
  };
}

export const TRAIN_DEFAULTS = {
  characterCoverage: 0.9995,
  byteFallback: true,
  userDefinedSymbols: ['\n', '\t'],
  controlSymbols: [] as string[],
  maxPieceLength: 16,
  splitDigits: true,
  splitByUnicodeScript: true,
  splitByNumber: true,
  allowWhitespaceOnlyPieces: true,
  addDummyPrefix: false,
  removeExtraWhitespaces: false,
};

const SPACE = 0x2581;

/** Collects normalized text into distinct chunk counts. */
class ChunkCounter {
  readonly counts = new Map<string, number>();
  bytes = 0;
  lines = 0;
  private readonly normalizer: SpNormalizer;
  private readonly ud: PrefixMatcher;
  private readonly classes: CharClasses;
  private readonly bmpClass = new Int16Array(65536).fill(-32768);

  constructor(private readonly o: Required<Omit<TrainOptions, 'onProgress'>>) {
    this.ud = new PrefixMatcher(o.userDefinedSymbols);
    this.normalizer = new SpNormalizer(
      {
        addDummyPrefix: o.addDummyPrefix,
        removeExtraWhitespaces: o.removeExtraWhitespaces,
        escapeWhitespaces: true,
        treatWhitespaceAsSuffix: false,
      },
      this.ud,
    );
    this.classes = new CharClasses(o);
  }

  private classOf(cp: number): number {
    if (cp < 65536) {
      let c = this.bmpClass[cp];
      if (c === -32768) c = this.bmpClass[cp] = this.classes.of(cp);
      return c;
    }
    return this.classes.of(cp);
  }

  addLine(line: string): void {
    this.lines++;
    this.bytes += Buffer.byteLength(line) + 1;
    const s = this.normalizer.normalize(line);
    const ud = this.ud;
    let start = 0;
    for (let i = 0; i < s.length;) {
      const len = ud.empty ? 0 : ud.matchString(s, i);
      if (len > 0) {
        this.addSection(s, start, i);
        i += len;
        start = i;
      } else i++;
    }
    this.addSection(s, start, s.length);
  }

  /** Cuts [a, b) where no valid piece can span: before "▁" (after a non-"▁"), script changes, digits. */
  private addSection(s: string, a: number, b: number): void {
    if (a >= b) return;
    const allowWs = this.o.allowWhitespaceOnlyPieces;
    let chunkStart = a;
    let prevCp = -1;
    let chunkClass = -999; // class of the chunk's non-▁ characters (-999: none yet)
    for (let i = a; i < b;) {
      const cp = s.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      let cut = false;
      if (cp === SPACE) {
        cut = prevCp !== SPACE || !allowWs;
      } else {
        let cls = this.classOf(cp);
        if (cls === CLASS_INHERITED) cls = chunkClass === -999 ? CLASS_INHERITED : chunkClass;
        if (cls === CLASS_DIGIT) cut = true;
        else if (chunkClass === CLASS_DIGIT) cut = true;
        else if (chunkClass !== -999 && cls !== chunkClass) cut = true;
        if (cut && prevCp === SPACE && cls !== CLASS_DIGIT && chunkClass === -999) cut = false;
        if (cut || chunkClass === -999) chunkClass = cls;
      }
      if (cut && i > chunkStart) {
        this.bump(s.slice(chunkStart, i));
        chunkStart = i;
        if (cp === SPACE) chunkClass = -999;
      }
      prevCp = cp;
      i += w;
    }
    if (b > chunkStart) this.bump(s.slice(chunkStart, b));
  }

  private bump(chunk: string): void {
    this.counts.set(chunk, (this.counts.get(chunk) ?? 0) + 1);
  }
}

/** Growable typed array. */
class Grow<T extends Int32Array | Float64Array> {
  constructor(
    public a: T,
    private readonly make: (n: number) => T,
  ) {}
  ensure(n: number): T {
    if (n > this.a.length) {
      let cap = this.a.length * 2;
      while (cap < n) cap *= 2;
      const b = this.make(cap);
      b.set(this.a);
      this.a = b;
    }
    return this.a;
  }
}

export async function trainBpeFromFiles(files: string[], options: TrainOptions): Promise<TrainResult> {
  async function* lines(): AsyncGenerator<string> {
    for (const f of files) {
      const rl = createInterface({ input: createReadStream(f, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of rl) yield line;
    }
  }
  return trainBpe(lines(), options);
}

export async function trainBpe(
  input: Iterable<string> | AsyncIterable<string>,
  options: TrainOptions,
): Promise<TrainResult> {
  const t0 = performance.now();
  const o = { ...TRAIN_DEFAULTS, ...options } as Required<Omit<TrainOptions, 'onProgress'>>;
  delete (o as Partial<TrainOptions>).onProgress;
  const progress = options.onProgress ?? (() => {});
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < 1)
    throw new TrainerError('vocabSize must be a positive integer');
  if (!(o.characterCoverage > 0 && o.characterCoverage <= 1)) {
    throw new TrainerError('characterCoverage must be in (0, 1]; SentencePiece uses 0.9995 for CJK text');
  }

  // Meta pieces: <unk> <s> </s>, control, user-defined, then the 256 byte pieces.
  const meta: TrainedPiece[] = [
    { piece: '<unk>', score: 0, type: 2 },
    { piece: '<s>', score: 0, type: 3 },
    { piece: '</s>', score: 0, type: 3 },
    ...o.controlSymbols.map((piece) => ({ piece, score: 0, type: 3 })),
    ...o.userDefinedSymbols.map((piece) => ({ piece, score: 0, type: 4 })),
  ];
  if (o.byteFallback) {
    for (let b = 0; b < 256; b++) {
      meta.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, score: 0, type: 6 });
    }
  }
  const reserved = new Set(meta.map((m) => m.piece));
  if (reserved.size !== meta.length)
    throw new TrainerError('a user-defined or control symbol is listed twice');

  // 1. Read and count chunks.
  const counter = new ChunkCounter(o);
  let lastReport = 0;
  for await (const line of input as AsyncIterable<string>) {
    counter.addLine(line);
    if (counter.bytes - lastReport > 8 << 20) {
      lastReport = counter.bytes;
      progress({ phase: 'read', done: counter.bytes, detail: `${counter.counts.size} distinct chunks` });
    }
  }
  progress({ phase: 'read', done: counter.bytes, detail: `${counter.counts.size} distinct chunks` });
  if (counter.counts.size === 0) throw new TrainerError('the training input is empty');

  // 2. Character coverage.
  const charCount = new Map<number, number>();
  let allChars = 0;
  for (const [chunk, f] of counter.counts) {
    for (let i = 0; i < chunk.length;) {
      const cp = chunk.codePointAt(i)!;
      charCount.set(cp, (charCount.get(cp) ?? 0) + f);
      allChars += f;
      i += cp > 0xffff ? 2 : 1;
    }
  }
  const sortedChars = [...charCount.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  const required: number[] = [];
  let covered = 0;
  for (const [cp, f] of sortedChars) {
    if (covered / allChars >= o.characterCoverage) break;
    covered += f;
    if (!reserved.has(String.fromCodePoint(cp))) required.push(cp);
  }
  const numMerges = o.vocabSize - meta.length - required.length;
  if (numMerges < 0) {
    throw new TrainerError(
      `vocabSize ${o.vocabSize} is smaller than the ${meta.length} meta pieces plus ${required.length} required ` +
        'characters: increase --vocab-size or lower --character-coverage',
    );
  }
  progress({
    phase: 'count',
    done: required.length,
    detail: `${required.length} characters cover ${((100 * covered) / allChars).toFixed(3)}%`,
  });

  // 3. Symbols: characters first, then merged pieces as they are created.
  const strs: string[] = [];
  const symLen = new Grow(new Int32Array(1024), (n) => new Int32Array(n));
  const symWs = new Grow(new Int32Array(1024), (n) => new Int32Array(n)); // 0 none, 1 "▁…" prefix, 2 all "▁"
  const symId = new Map<string, number>();
  const addSymbol = (s: string, len: number, ws: number): number => {
    const id = strs.length;
    strs.push(s);
    symLen.ensure(id + 1)[id] = len;
    symWs.ensure(id + 1)[id] = ws;
    symId.set(s, id);
    return id;
  };
  const charSym = new Map<number, number>();
  for (const cp of required) {
    const ch = String.fromCodePoint(cp);
    charSym.set(cp, addSymbol(ch, 1, cp === SPACE ? 2 : 0));
  }
  const maxLen = o.maxPieceLength;
  const allowWs = o.allowWhitespaceOnlyPieces;
  const valid = (a: number, b: number): boolean => {
    const la = symLen.a[a];
    if (la + symLen.a[b] > maxLen) return false;
    const wa = symWs.a[a];
    const wb = symWs.a[b];
    if (wa === 2 && wb === 2) return allowWs;
    if (wb !== 0) return false;
    return !(wa === 2 && la > 1);
  };

  // Occurrence storage: one slot per symbol position of every distinct chunk.
  let total = 0;
  for (const chunk of counter.counts.keys()) total += chunk.length;
  const sym = new Int32Array(total);
  const next = new Int32Array(total);
  const prev = new Int32Array(total);
  const freq = new Float64Array(total);
  let n = 0;
  for (const [chunk, f] of counter.counts) {
    let runStart = n;
    for (let i = 0; i < chunk.length;) {
      const cp = chunk.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      const s = charSym.get(cp);
      if (s === undefined) {
        runStart = n; // a rare character: a barrier
        continue;
      }
      sym[n] = s;
      freq[n] = f;
      prev[n] = n > runStart ? n - 1 : -1;
      next[n] = -1;
      if (n > runStart) next[n - 1] = n;
      n++;
    }
  }
  counter.counts.clear();

  // 4. Pair statistics with occurrence lists (append order = text order).
  const pairs = new PairTable(1 << 16);
  let numPairs = 0;
  const pairA = new Grow(new Int32Array(1 << 16), (k) => new Int32Array(k));
  const pairB = new Grow(new Int32Array(1 << 16), (k) => new Int32Array(k));
  const pairCount = new Grow(new Float64Array(1 << 16), (k) => new Float64Array(k));
  const head = new Grow(new Int32Array(1 << 16), (k) => new Int32Array(k));
  const tail = new Grow(new Int32Array(1 << 16), (k) => new Int32Array(k));
  const entPos = new Grow(new Int32Array(Math.max(1024, n)), (k) => new Int32Array(k));
  const entNext = new Grow(new Int32Array(Math.max(1024, n)), (k) => new Int32Array(k));
  let numEnt = 0;
  const pairOf = (a: number, b: number): number => {
    let p = pairs.get(a, b);
    if (p < 0) {
      p = numPairs++;
      pairs.set(a, b, p);
      pairA.ensure(numPairs)[p] = a;
      pairB.ensure(numPairs)[p] = b;
      pairCount.ensure(numPairs)[p] = 0;
      head.ensure(numPairs)[p] = -1;
      tail.ensure(numPairs)[p] = -1;
    }
    return p;
  };
  const addOccurrence = (p: number, pos: number, f: number): void => {
    pairCount.a[p] += f;
    const e = numEnt++;
    entPos.ensure(numEnt)[e] = pos;
    entNext.ensure(numEnt)[e] = -1;
    if (tail.a[p] < 0) head.a[p] = e;
    else entNext.a[tail.a[p]] = e;
    tail.a[p] = e;
  };
  for (let i = 0; i < n; i++) {
    const j = next[i];
    if (j >= 0 && valid(sym[i], sym[j])) addOccurrence(pairOf(sym[i], sym[j]), i, freq[i]);
  }

  const heap = new MaxHeap();
  for (let p = 0; p < numPairs; p++) heap.push(pairCount.a[p], p);

  // 5. Merge loop.
  const merged: number[] = [];
  const touched = new Set<number>();
  let lastTick = performance.now();
  while (merged.length < numMerges && heap.size > 0) {
    const [cnt, p] = heap.pop();
    const current = pairCount.a[p];
    if (cnt !== current) {
      if (current > 0) heap.push(current, p);
      continue;
    }
    if (current <= 0) break;
    const a = pairA.a[p];
    const b = pairB.a[p];
    const text = strs[a] + strs[b];
    if (reserved.has(text)) {
      pairCount.a[p] = 0; // would duplicate a meta piece
      continue;
    }
    let c = symId.get(text);
    if (c === undefined) {
      c = addSymbol(
        text,
        symLen.a[a] + symLen.a[b],
        symWs.a[a] === 2 && symWs.a[b] === 2 ? 2 : symWs.a[a] !== 0 ? 1 : 0,
      );
      merged.push(c);
    }
    touched.clear();
    for (let e = head.a[p]; e >= 0; e = entNext.a[e]) {
      const i = entPos.a[e];
      const j = next[i];
      if (sym[i] !== a || j < 0 || sym[j] !== b) continue;
      const f = freq[i];
      const h = prev[i];
      const k = next[j];
      if (h >= 0) {
        const old = pairs.get(sym[h], a);
        if (old >= 0) pairCount.a[old] -= f;
        if (valid(sym[h], c)) {
          const q = pairOf(sym[h], c);
          addOccurrence(q, h, f);
          touched.add(q);
        }
      }
      if (k >= 0) {
        const old = pairs.get(b, sym[k]);
        if (old >= 0) pairCount.a[old] -= f;
        if (valid(c, sym[k])) {
          const q = pairOf(c, sym[k]);
          addOccurrence(q, i, f);
          touched.add(q);
        }
      }
      sym[i] = c;
      sym[j] = -1;
      next[i] = k;
      if (k >= 0) prev[k] = i;
    }
    pairCount.a[p] = 0;
    head.a[p] = tail.a[p] = -1;
    for (const q of touched) if (pairCount.a[q] > 0) heap.push(pairCount.a[q], q);
    if (performance.now() - lastTick > 1000 || merged.length === numMerges) {
      lastTick = performance.now();
      progress({ phase: 'merge', done: merged.length, total: numMerges, detail: text });
    }
  }

  // 6. The vocabulary: meta pieces, merged pieces (score −rank), then the characters.
  const pieces: TrainedPiece[] = [...meta];
  let rank = 0;
  for (const s of merged) pieces.push({ piece: strs[s], score: -rank++, type: 1 });
  for (const cp of required) pieces.push({ piece: String.fromCodePoint(cp), score: -rank++, type: 1 });
  const seconds = (performance.now() - t0) / 1000;
  progress({ phase: 'done', done: merged.length, total: numMerges });
  return {
    pieces,
    options: o,
    stats: {
      bytes: counter.bytes,
      lines: counter.lines,
      chunks: n,
      requiredChars: required.length,
      merges: merged.length,
      seconds,
    },
  };
}

/** Max-heap of (count, pair); ties go to the older pair. */
class MaxHeap {
  private cnt: number[] = [];
  private id: number[] = [];
  get size(): number {
    return this.cnt.length;
  }
  private above(i: number, j: number): boolean {
    return this.cnt[i] > this.cnt[j] || (this.cnt[i] === this.cnt[j] && this.id[i] < this.id[j]);
  }
  private swap(i: number, j: number): void {
    [this.cnt[i], this.cnt[j]] = [this.cnt[j], this.cnt[i]];
    [this.id[i], this.id[j]] = [this.id[j], this.id[i]];
  }
  push(c: number, p: number): void {
    this.cnt.push(c);
    this.id.push(p);
    let i = this.cnt.length - 1;
    while (i > 0) {
      const q = (i - 1) >> 1;
      if (!this.above(i, q)) break;
      this.swap(i, q);
      i = q;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.cnt[0], this.id[0]];
    const lc = this.cnt.pop()!;
    const li = this.id.pop()!;
    if (this.cnt.length > 0) {
      this.cnt[0] = lc;
      this.id[0] = li;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.cnt.length && this.above(l, m)) m = l;
        if (r < this.cnt.length && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

export { SPACE_SYMBOL };
