/**
 * SentencePiece's precompiled normalization map (`precompiled_charsmap`, e.g. nmt_nfkc): a darts-clone
 * double-array trie over UTF-8 byte sequences whose values index a blob of NUL-terminated replacements.
 * Layout: uint32le trie size in bytes, the trie units (uint32le), then the replacement blob.
 */
import { TokenizerFormatError } from './errors.js';

export class Charsmap {
  private readonly units: Uint32Array;
  private readonly blob: Uint8Array;

  constructor(bytes: Uint8Array) {
    if (bytes.length < 4) throw new TokenizerFormatError('precompiled_charsmap is truncated (under 4 bytes)');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length) {
      throw new TokenizerFormatError(
        `precompiled_charsmap declares a ${trieSize}-byte trie in a ${bytes.length}-byte blob: the model is corrupt`,
      );
    }
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.blob = bytes.subarray(4 + trieSize);
  }

  /**
   * Longest rule matching `input` from `start`: returns [matched byte length, replacement start, end] in the
   * blob, or undefined. Mirrors darts-clone commonPrefixSearch (the unit bit layout is darts-clone's).
   */
  longestMatch(input: Uint8Array, start: number): [number, number, number] | undefined {
    const units = this.units;
    if (units.length === 0) return undefined;
    let node = offsetOf(units[0]);
    let bestLen = 0;
    let bestValue = -1;
    for (let i = start; i < input.length; i++) {
      const c = input[i];
      node ^= c;
      if (node >= units.length) break;
      const unit = units[node];
      if ((unit & 0x800000ff) >>> 0 !== c) break; // label mismatch
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        bestLen = i - start + 1;
        bestValue = units[node] & 0x7fffffff;
      }
    }
    if (bestLen === 0) return undefined;
    let end = bestValue;
    while (end < this.blob.length && this.blob[end] !== 0) end++;
    return [bestLen, bestValue, end];
  }

  replacement(from: number, to: number): Uint8Array {
    return this.blob.subarray(from, to);
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}
