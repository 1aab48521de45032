import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenizerFormatError, UnsupportedTokenizerError } from '../../src/tokenizer/errors.js';
import { HfTokenizer } from '../../src/tokenizer/tokenizer-json.js';
import { OWN, SHARED_TOK, hasShared, readJsonl } from './helpers.js';

interface Expected {
  text: string;
  ids: number[];
  decoded: string;
}

describe.skipIf(!hasShared)('MiniCPM-1B tokenizer.json vs the fast tokenizer (transformers.js)', () => {
  const tok = hasShared
    ? new HfTokenizer(JSON.parse(readFileSync(join(SHARED_TOK, 'minicpm-1b', 'tokenizer.json'), 'utf8')))
    : (undefined as never);
  const expected = readJsonl<Expected>(join(OWN, 'minicpm-1b-tokenizer-json.expected.jsonl'));

  it('encodes every fixture string like the fast tokenizer (which prepends ▁)', () => {
    const bad = expected.filter((e) => JSON.stringify(tok.encode(e.text)) !== JSON.stringify(e.ids));
    expect(bad.map((e) => e.text)).toEqual([]);
    expect(expected.length).toBe(49);
  });

  it('decodes like the fast tokenizer', () => {
    for (const e of expected) expect(tok.decode(e.ids)).toBe(e.decoded);
  });

  it('reads the template post-processor: BOS on request', () => {
    expect(tok.addBosByDefault).toBe(true);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.encode('hi', { addBos: true })).toEqual([1, ...tok.encode('hi')]);
    expect(tok.encode('a</s>b', { parseSpecial: true })).toEqual([...tok.encode('a'), 2, ...tok.encode('b')]);
    expect(tok.encode('a</s>b')).not.toContain(2);
  });
});

describe('tokenizer.json validation', () => {
  it('rejects files that are not BPE tokenizer.json with typed errors', () => {
    expect(() => new HfTokenizer({})).toThrow(TokenizerFormatError);
    expect(() => new HfTokenizer({ model: { type: 'Unigram', vocab: [] } })).toThrow(
      UnsupportedTokenizerError,
    );
    expect(() => new HfTokenizer({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b'] } })).toThrow(
      /not in the vocabulary/,
    );
    expect(
      () =>
        new HfTokenizer({
          normalizer: { type: 'Bogus' },
          model: { type: 'BPE', vocab: { a: 0 }, merges: [] },
        }),
    ).toThrow(UnsupportedTokenizerError);
  });

  it('applies merges by rank, leftmost first, with byte fallback', () => {
    const vocab = { '<unk>': 0, a: 1, b: 2, ab: 3, ba: 4, '<0x63>': 5 };
    const tok = new HfTokenizer({
      model: { type: 'BPE', vocab, merges: ['a b', 'b a'], unk_token: '<unk>', byte_fallback: true },
      decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
    });
    expect(tok.encodeAsPieces('abab')).toEqual(['ab', 'ab']);
    expect(tok.encodeAsPieces('bab')).toEqual(['b', 'ab']);
    expect(tok.encode('c')).toEqual([5]);
    expect(tok.encode('d')).toEqual([0]);
    expect(tok.decode([3, 5])).toBe('abc');
  });
});
