/**
 * Exact and near-duplicate removal over a stream of documents from several sources. The first copy wins,
 * so sources are fed in priority order (curated before scraped). Near duplicates are found by MinHash + LSH:
 * signatures are cut into bands; two documents sharing any band are candidates, confirmed when their
 * signatures agree on at least `threshold` of the slots.
 */
import crypto from 'node:crypto';
import { defaultMinHash, minhash, similarity, type MinHashOptions } from './minhash.js';
import { hashInts } from '../random.js';

export interface DedupOptions extends MinHashOptions {
  /** Bands of the LSH index; numHashes / bands rows each. */
  bands: number;
  /** Estimated Jaccard similarity at or above which a document is a near duplicate. */
  threshold: number;
}

export const defaultDedup: DedupOptions = { ...defaultMinHash, bands: 16, threshold: 0.8 };

export type DedupVerdict = { duplicate: false } | { duplicate: true; kind: 'exact' | 'near'; of: string };

/** Key of the exact-duplicate check: the text with case and whitespace differences removed. */
export function exactKey(text: string): string {
  return crypto
    .createHash('sha1')
    .update(text.toLowerCase().replace(/\s+/g, ' ').trim())
    .digest('base64')
    .slice(0, 20);
}

const BLOCK = 1 << 14;

export class Deduplicator {
  readonly options: DedupOptions;
  private readonly exact = new Map<string, number>();
  private readonly bandMaps: Map<number, number>[];
  private readonly blocks: Uint32Array[] = [];
  private readonly owners: number[] = [];
  private readonly ownerNames: string[] = [];
  private readonly scratch: Uint32Array;
  private count = 0;

  constructor(options: Partial<DedupOptions> = {}) {
    this.options = { ...defaultDedup, ...options };
    const { numHashes, bands } = this.options;
    if (numHashes % bands)
      throw new RangeError(`numHashes (${numHashes}) must be a multiple of bands (${bands})`);
    this.bandMaps = Array.from({ length: bands }, () => new Map<number, number>());
    this.scratch = new Uint32Array(numHashes);
  }

  /** Documents kept so far. */
  get size(): number {
    return this.count;
  }

  private ownerIndex(owner: string): number {
    let i = this.ownerNames.indexOf(owner);
    if (i < 0) i = this.ownerNames.push(owner) - 1;
    return i;
  }

  private signatureOf(doc: number): Uint32Array {
    const k = this.options.numHashes;
    const block = this.blocks[Math.floor(doc / BLOCK)];
    const at = (doc % BLOCK) * k;
    return block.subarray(at, at + k);
  }

  /**
   * Check `text` against everything kept so far; when it is new, keep it under `owner` (its source's name).
   * `near: false` does only the exact check (for templated data where near matches are expected).
   */
  check(text: string, owner: string, near = true): DedupVerdict {
    const key = exactKey(text);
    const prior = this.exact.get(key);
    if (prior !== undefined)
      return { duplicate: true, kind: 'exact', of: this.ownerNames[this.owners[prior]] };
    const { numHashes: k, bands } = this.options;
    const rows = k / bands;
    const sig = minhash(text, this.options, this.scratch);
    const bandKeys = new Array<number>(bands);
    for (let b = 0; b < bands; b++) {
      let h = hashInts(b);
      for (let r = 0; r < rows; r++) h = hashInts(h, sig[b * rows + r]);
      bandKeys[b] = h | 0; // small ints keep the maps compact
      if (!near) continue;
      const candidate = this.bandMaps[b].get(bandKeys[b]);
      if (candidate !== undefined && similarity(sig, this.signatureOf(candidate)) >= this.options.threshold) {
        return { duplicate: true, kind: 'near', of: this.ownerNames[this.owners[candidate]] };
      }
    }
    const doc = this.count++;
    if (doc % BLOCK === 0) this.blocks.push(new Uint32Array(BLOCK * k));
    this.signatureOf(doc).set(sig);
    this.owners.push(this.ownerIndex(owner));
    this.exact.set(key, doc);
    for (let b = 0; b < bands; b++)
      if (!this.bandMaps[b].has(bandKeys[b])) this.bandMaps[b].set(bandKeys[b], doc);
    return { duplicate: false };
  }
}
