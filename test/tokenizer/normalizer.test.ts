import { describe, expect, it } from 'vitest';
import { SpNormalizer, type SpNormalizerOptions } from '../../src/tokenizer/normalizer.js';
import { PrefixMatcher } from '../../src/tokenizer/prefix-matcher.js';
import { decodeUtf8PerByte } from '../../src/tokenizer/utf8.js';

const base: SpNormalizerOptions = {
  addDummyPrefix: false,
  removeExtraWhitespaces: false,
  escapeWhitespaces: true,
  treatWhitespaceAsSuffix: false,
};

describe('SentencePiece normalizer', () => {
  it('escapes spaces and applies dummy prefix / extra-whitespace removal as the C++ loop does', () => {
    const cases: [Partial<SpNormalizerOptions>, string, string][] = [
      [{}, ' a  b ', '▁a▁▁b▁'],
      [{ addDummyPrefix: true }, 'a b', '▁a▁b'],
      [{ addDummyPrefix: true }, '', ''],
      [{ removeExtraWhitespaces: true }, '   a   b  ', 'a▁b'],
      [{ removeExtraWhitespaces: true, addDummyPrefix: true }, '   a   b  ', '▁a▁b'],
      [{ removeExtraWhitespaces: true, addDummyPrefix: true }, '    ', ''],
      [{ escapeWhitespaces: false, addDummyPrefix: true }, 'a b', ' a b'],
      [{ addDummyPrefix: true, treatWhitespaceAsSuffix: true }, 'a b', 'a▁b▁'],
    ];
    for (const [o, input, want] of cases)
      expect(new SpNormalizer({ ...base, ...o }).normalize(input)).toBe(want);
  });

  it('takes the same result on its fast path and its byte loop (random strings)', () => {
    const alphabet = [' ', ' ', 'a', 'b', '▁', '你', '😀', '\t', '<b>'];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let trial = 0; trial < 300; trial++) {
      let s = '';
      for (let k = Math.floor(rand() * 12); k > 0; k--) s += alphabet[Math.floor(rand() * alphabet.length)];
      const o = { ...base, addDummyPrefix: rand() < 0.5, removeExtraWhitespaces: rand() < 0.5 };
      const fast = new SpNormalizer(o, new PrefixMatcher(['<b>'])).normalize(s);
      // A user-defined symbol with a space forces the byte loop without changing the result here.
      const slow = new SpNormalizer(o, new PrefixMatcher(['<b>', ' \u0000'])).normalize(s);
      expect(slow, JSON.stringify([s, o])).toBe(fast);
    }
  });

  it('replaces lone surrogates as a UTF-8 round trip would', () => {
    expect(new SpNormalizer(base).normalize('a\uD800b')).toBe('a\uFFFDb');
  });

  it('decodes malformed UTF-8 one replacement character per bad byte, as SentencePiece does', () => {
    expect(decodeUtf8PerByte([0xe4, 0xbd])).toBe('\uFFFD\uFFFD');
    expect(decodeUtf8PerByte([0x61, 0xe4, 0xbd, 0xa0, 0xff])).toBe('a你\uFFFD');
    expect(decodeUtf8PerByte([0xed, 0xa0, 0x80])).toBe('\uFFFD\uFFFD\uFFFD');
  });
});
