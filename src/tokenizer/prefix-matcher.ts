/**
 * Longest-prefix matching of a fixed set of strings (SentencePiece's PrefixMatcher for user-defined
 * pieces). Works on UTF-16 code units for JS strings and on bytes for the UTF-8 normalizer path; a first-unit
 * bitmap keeps the common "no symbol starts here" case to one array read.
 */
interface Node {
  next: Map<number, Node>;
  terminal: boolean;
}

class UnitTrie {
  private readonly root: Node = { next: new Map(), terminal: false };
  readonly first = new Uint8Array(65536);
  size = 0;

  add(units: ArrayLike<number>): void {
    if (units.length === 0) return;
    let node = this.root;
    this.first[units[0]] = 1;
    for (let i = 0; i < units.length; i++) {
      let child = node.next.get(units[i]);
      if (!child) {
        child = { next: new Map(), terminal: false };
        node.next.set(units[i], child);
      }
      node = child;
    }
    if (!node.terminal) this.size++;
    node.terminal = true;
  }

  /** Length of the longest entry that is a prefix of `at(pos..end)`, 0 if none. */
  longest(at: (i: number) => number, pos: number, end: number): number {
    let node: Node | undefined = this.root;
    let best = 0;
    for (let i = pos; i < end; i++) {
      node = node.next.get(at(i));
      if (!node) break;
      if (node.terminal) best = i - pos + 1;
    }
    return best;
  }
}

export class PrefixMatcher {
  private readonly strings = new UnitTrie();
  private readonly bytes = new UnitTrie();
  readonly symbols: readonly string[];

  constructor(symbols: Iterable<string>) {
    const list: string[] = [];
    const enc = new TextEncoder();
    for (const s of symbols) {
      if (s.length === 0) continue;
      list.push(s);
      const units = new Array<number>(s.length);
      for (let i = 0; i < s.length; i++) units[i] = s.charCodeAt(i);
      this.strings.add(units);
      this.bytes.add(enc.encode(s));
    }
    this.symbols = list;
  }

  get empty(): boolean {
    return this.strings.size === 0;
  }

  /** Longest symbol starting at `pos` of `s`, in code units; 0 when none. */
  matchString(s: string, pos: number): number {
    if (this.strings.first[s.charCodeAt(pos)] === 0) return 0;
    return this.strings.longest((i) => s.charCodeAt(i), pos, s.length);
  }

  /** Longest symbol starting at `pos` of UTF-8 `b`, in bytes; 0 when none. */
  matchBytes(b: Uint8Array, pos: number): number {
    if (this.bytes.first[b[pos]] === 0) return 0;
    return this.bytes.longest((i) => b[i], pos, b.length);
  }
}
