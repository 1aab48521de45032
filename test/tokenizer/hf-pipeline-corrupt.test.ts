/**
 * Corrupt pipeline sections of a tokenizer.json end in TokenizerFormatError, not a TypeError or
 * SyntaxError: the cases `npm run fuzz` found (a Sequence without its list) and their neighbours.
 */
import { describe, expect, it } from 'vitest';
import { TokenizerFormatError } from '../../src/tokenizer/errors.js';
import {
  buildDecoder,
  buildNormalizer,
  buildPreTokenizer,
  patternRegex,
} from '../../src/tokenizer/hf-pipeline.js';

describe('corrupt tokenizer.json pipeline sections', () => {
  it.each([
    ['normalizer Sequence without normalizers', () => buildNormalizer({ type: 'Sequence' })],
    ['decoder Sequence without decoders', () => buildDecoder({ type: 'Sequence', decoders: 3 })],
    ['pre-tokenizer Sequence without pretokenizers', () => buildPreTokenizer({ type: 'Sequence' })],
    ['Prepend with a number', () => buildNormalizer({ type: 'Prepend', prepend: 7 })],
    ['Replace without content', () => buildDecoder({ type: 'Replace', pattern: { String: 'x' } })],
    [
      'Metaspace with a non-string replacement',
      () => buildPreTokenizer({ type: 'Metaspace', replacement: 1 }),
    ],
    ['an invalid regex', () => patternRegex({ Regex: '(unclosed' })],
  ])('%s', (_, build) => {
    expect(build).toThrow(TokenizerFormatError);
  });

  it('well-formed sections still build', () => {
    const n = buildNormalizer({ type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }] });
    expect(n!('a b')).toBe('▁a b');
    const d = buildDecoder({
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }],
    });
    expect(d!(['▁a', '▁b'])).toEqual([' a', ' b']);
  });
});
