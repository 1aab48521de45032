/**
 * SentencePiece's normalizer: optional precompiled charsmap (nmt_nfkc & co.), user-defined pieces left
 * untouched, remove_extra_whitespaces, add_dummy_prefix, and whitespace escaped to U+2581 ("▁").
 * The identity case (MiniCPM, Llama) takes a string fast path; the charsmap case follows the C++ loop on
 * UTF-8 bytes.
 */
import { Charsmap } from './charsmap.js';
import type { NormalizerSpecData } from './proto.js';
import type { PrefixMatcher } from './prefix-matcher.js';
import { toWellFormed } from './utf8.js';

export const SPACE_SYMBOL = '\u2581';
const SPACE_BYTES = [0xe2, 0x96, 0x81];
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]);

export interface SpNormalizerOptions {
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
  charsmap?: Charsmap;
}

export function normalizerOptionsFromSpec(
  spec: NormalizerSpecData,
  treatWhitespaceAsSuffix = false,
): SpNormalizerOptions {
  const map = spec.precompiledCharsmap;
  return {
    addDummyPrefix: spec.addDummyPrefix ?? true,
    removeExtraWhitespaces: spec.removeExtraWhitespaces ?? true,
    escapeWhitespaces: spec.escapeWhitespaces ?? true,
    treatWhitespaceAsSuffix,
    charsmap: map && map.length > 0 ? new Charsmap(map) : undefined,
  };
}

export class SpNormalizer {
  private readonly fast: boolean;

  constructor(
    readonly options: SpNormalizerOptions,
    private readonly userDefined?: PrefixMatcher,
  ) {
    // A user-defined piece containing a space interacts with whitespace removal; let the exact loop handle it.
    const udSpace = userDefined?.symbols.some((s) => s.includes(' ')) ?? false;
    this.fast = !options.charsmap && !udSpace;
  }

  /** `dummyPrefix: false` suppresses add_dummy_prefix (text that follows a special token). */
  normalize(text: string, dummyPrefix = true): string {
    text = toWellFormed(text); // lone surrogates → U+FFFD, as UTF-8 input would be
    const o =
      dummyPrefix || !this.options.addDummyPrefix ? this.options : { ...this.options, addDummyPrefix: false };
    return this.fast ? this.normalizeIdentity(text, o) : this.normalizeBytes(text, o);
  }

  private normalizeIdentity(text: string, o: SpNormalizerOptions): string {
    let s = text;
    if (o.removeExtraWhitespaces) {
      s = s.replace(/^ +/, '');
      if (s.length === 0) return '';
      s = s.replace(/ {2,}/g, ' ');
    } else if (s.length === 0) return '';
    const ws = o.escapeWhitespaces ? SPACE_SYMBOL : ' ';
    if (o.escapeWhitespaces) s = s.replaceAll(' ', SPACE_SYMBOL);
    if (o.addDummyPrefix && !o.treatWhitespaceAsSuffix) s = ws + s;
    if (o.removeExtraWhitespaces) {
      let end = s.length;
      while (end > 0 && s.charCodeAt(end - 1) === ws.charCodeAt(0)) end--;
      s = s.slice(0, end);
    }
    if (o.addDummyPrefix && o.treatWhitespaceAsSuffix) s += ws;
    return s;
  }

  /** The C++ Normalizer::Normalize loop, byte for byte. */
  private normalizeBytes(text: string, o: SpNormalizerOptions): string {
    const input = new TextEncoder().encode(text);
    const out: number[] = [];
    const addWs = () => (o.escapeWhitespaces ? out.push(...SPACE_BYTES) : out.push(0x20));
    let pos = 0;
    if (o.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [piece, consumed] = this.normalizePrefix(input, pos);
        if (!(piece.length === 1 && piece[0] === 0x20)) break;
        pos += consumed;
      }
    }
    if (pos >= input.length) return '';
    if (!o.treatWhitespaceAsSuffix && o.addDummyPrefix) addWs();
    let isPrevSpace = o.removeExtraWhitespaces;
    while (pos < input.length) {
      const [piece, consumed] = this.normalizePrefix(input, pos);
      let k = 0;
      while (isPrevSpace && k < piece.length && piece[k] === 0x20) k++;
      if (k < piece.length) {
        for (; k < piece.length; k++) {
          if (o.escapeWhitespaces && piece[k] === 0x20) out.push(...SPACE_BYTES);
          else out.push(piece[k]);
        }
        isPrevSpace = piece[piece.length - 1] === 0x20;
      }
      pos += consumed;
      if (!o.removeExtraWhitespaces) isPrevSpace = false;
    }
    if (o.removeExtraWhitespaces) {
      const ws = o.escapeWhitespaces ? SPACE_BYTES : [0x20];
      while (out.length >= ws.length && ws.every((b, i) => out[out.length - ws.length + i] === b)) {
        out.length -= ws.length;
      }
    }
    if (o.treatWhitespaceAsSuffix && o.addDummyPrefix) addWs();
    return new TextDecoder().decode(new Uint8Array(out));
  }

  private normalizePrefix(input: Uint8Array, pos: number): [Uint8Array, number] {
    if (this.userDefined) {
      const n = this.userDefined.matchBytes(input, pos);
      if (n > 0) return [input.subarray(pos, pos + n), n];
    }
    const m = this.options.charsmap?.longestMatch(input, pos);
    if (m) return [this.options.charsmap!.replacement(m[1], m[2]), m[0]];
    const len = utf8Length(input, pos);
    if (len === 0) return [REPLACEMENT, 1];
    return [input.subarray(pos, pos + len), len];
  }
}

/** Length of the valid UTF-8 sequence at `pos`, or 0 when malformed. */
function utf8Length(b: Uint8Array, pos: number): number {
  const c = b[pos];
  const n =
    c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (n === 0 || pos + n > b.length) return 0;
  for (let i = 1; i < n; i++) if ((b[pos + i] & 0xc0) !== 0x80) return 0;
  return n;
}
