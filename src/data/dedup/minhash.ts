/**
 * MinHash signatures for near-duplicate detection, by one-permutation hashing (Li, Owen & Zhang 2012)
 * with densification (Shrivastava 2017): one hash per shingle instead of one per shingle *and* permutation,
 * which makes signing a 100 MB corpus take seconds. Two signatures agree in a slot with probability equal
 * to the Jaccard similarity of the shingle sets.
 *
 * Shingles are n consecutive "units": a CJK character is a unit (Chinese has no spaces), a run of
 * letters/digits is a (lower-cased) word unit, everything else separates units and is ignored, so
 * punctuation and whitespace differences do not hide a duplicate.
 */
import { mix32 } from '../random.js';

function isCjk(c: number): boolean {
  return (
    (c >= 0x3400 && c <= 0x9fff) || // CJK ideographs (and extension A)
    (c >= 0x3040 && c <= 0x30ff) || // kana
    (c >= 0xac00 && c <= 0xd7af) || // hangul
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x20000 && c <= 0x3ffff)
  );
}

function isSeparator(c: number): boolean {
  if (c < 0x80) return !((c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c === 95);
  // General and CJK punctuation, full-width forms' punctuation, spaces: separators too.
  return (
    (c >= 0x2000 && c <= 0x206f) ||
    (c >= 0x3000 && c <= 0x303f) ||
    (c >= 0xff00 && c <= 0xff0f) ||
    (c >= 0xff1a && c <= 0xff20) ||
    c === 0xa0 ||
    c === 0xfffd
  );
}

/** 32-bit hashes of the units of a text, in order. */
export function unitHashes(text: string): Uint32Array {
  const out = new Uint32Array(text.length + 1);
  let n = 0;
  let word = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00);
      i++;
    }
    if (isCjk(c)) {
      if (inWord) out[n++] = mix32(word);
      inWord = false;
      out[n++] = mix32(c ^ 0x5bd1e995);
    } else if (isSeparator(c)) {
      if (inWord) out[n++] = mix32(word);
      inWord = false;
    } else {
      if (c >= 65 && c <= 90) c |= 32; // ASCII lower-case
      word = inWord ? Math.imul(word ^ c, 0x01000193) : Math.imul(0x811c9dc5 ^ c, 0x01000193);
      inWord = true;
    }
  }
  if (inWord) out[n++] = mix32(word);
  return out.subarray(0, n);
}

export interface MinHashOptions {
  /** Slots in a signature (a power of two). */
  numHashes: number;
  /** Units per shingle. */
  shingle: number;
}

export const defaultMinHash: MinHashOptions = { numHashes: 64, shingle: 3 };

const EMPTY = 0xffffffff;

/** The signature of a text; equal texts (up to case, punctuation and spacing) get equal signatures. */
export function minhash(
  text: string,
  o: MinHashOptions = defaultMinHash,
  out: Uint32Array = new Uint32Array(o.numHashes),
): Uint32Array {
  const k = o.numHashes;
  const bits = Math.log2(k);
  if (!Number.isInteger(bits)) throw new RangeError(`numHashes must be a power of two, got ${k}`);
  const units = unitHashes(text);
  out.fill(EMPTY);
  const n = o.shingle;
  const count = units.length >= n ? units.length - n + 1 : units.length ? 1 : 0;
  for (let s = 0; s < count; s++) {
    let h = 0x9e3779b9;
    for (let j = 0; j < n && s + j < units.length; j++) h = mix32(h ^ Math.imul(units[s + j], j * 2 + 1));
    const bin = bits ? h >>> (32 - bits) : 0;
    const v = (h << bits) >>> 0 || 1; // the remaining bits order shingles within a bin; 0 kept apart from EMPTY
    if (v < out[bin]) out[bin] = v;
  }
  densify(out, k);
  return out;
}

/** Fill empty slots from non-empty ones chosen by a fixed per-slot sequence (the same for every text). */
function densify(sig: Uint32Array, k: number): void {
  const filled = Uint8Array.from(sig, (v) => (v === EMPTY ? 0 : 1));
  if (!filled.includes(1)) return; // an empty text: all slots stay EMPTY
  for (let i = 0; i < k; i++) {
    if (filled[i]) continue;
    for (let attempt = 1; ; attempt++) {
      const j = mix32(Math.imul(i + 1, 0x9e3779b1) ^ attempt) & (k - 1);
      if (filled[j]) {
        sig[i] = mix32(sig[j] ^ attempt); // distinct from the donor so borrowed slots do not all agree
        break;
      }
    }
  }
}

/** Share of agreeing slots: an estimate of the Jaccard similarity. */
export function similarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}
