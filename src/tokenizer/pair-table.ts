/**
 * An open-addressing hash map from a pair of symbol ids to a merged id, in typed arrays: the BPE hot loop
 * looks up every adjacent pair, and a JS Map keyed by numbers above 2^31 would allocate heap numbers.
 */
export class PairTable {
  private keysL: Int32Array;
  private keysR: Int32Array;
  private vals: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap <<= 1;
    this.keysL = new Int32Array(cap).fill(-1);
    this.keysR = new Int32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private static hash(l: number, r: number): number {
    return (Math.imul(l, 0x9e3779b1) ^ Math.imul(r + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** Inserts or overwrites (the last writer wins). */
  set(l: number, r: number, v: number): void {
    if (!this.setIfAbsent(l, r, v)) {
      let i = PairTable.hash(l, r) & this.mask;
      while (!(this.keysL[i] === l && this.keysR[i] === r)) i = (i + 1) & this.mask;
      this.vals[i] = v;
    }
  }

  /** Inserts unless present (the first writer wins); returns whether it was inserted. */
  setIfAbsent(l: number, r: number, v: number): boolean {
    if ((this.size + 1) * 2 > this.keysL.length) this.grow();
    let i = PairTable.hash(l, r) & this.mask;
    for (;;) {
      const kl = this.keysL[i];
      if (kl === -1) {
        this.keysL[i] = l;
        this.keysR[i] = r;
        this.vals[i] = v;
        this.size++;
        return true;
      }
      if (kl === l && this.keysR[i] === r) return false;
      i = (i + 1) & this.mask;
    }
  }

  /** The merged id, or -1. Ids must be >= 0. */
  get(l: number, r: number): number {
    const keysL = this.keysL;
    let i = PairTable.hash(l, r) & this.mask;
    for (;;) {
      const kl = keysL[i];
      if (kl === -1) return -1;
      if (kl === l && this.keysR[i] === r) return this.vals[i];
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const { keysL, keysR, vals } = this;
    const cap = keysL.length * 2;
    this.keysL = new Int32Array(cap).fill(-1);
    this.keysR = new Int32Array(cap);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < keysL.length; i++) if (keysL[i] !== -1) this.setIfAbsent(keysL[i], keysR[i], vals[i]);
  }
}
