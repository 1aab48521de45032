import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenizerFormatError, UnsupportedTokenizerError } from '../../src/tokenizer/errors.js';
import { decodeModelProto, encodeModelProto } from '../../src/tokenizer/proto.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { OWN, SHARED_TOK, hasShared, readJsonl } from './helpers.js';

interface Expected {
  text: string;
  ids: number[];
  pieces?: string[];
  decoded: string;
}

const load = (path: string) => SentencePieceTokenizer.fromModelBytes(readFileSync(path), path);

describe.skipIf(!hasShared).each(['minicpm-2b', 'minicpm-1b'])(
  '%s tokenizer.model vs SentencePiece',
  (name) => {
    const tok = hasShared ? load(join(SHARED_TOK, name, 'tokenizer.model')) : (undefined as never);
    const expected = hasShared ? readJsonl<Expected>(join(SHARED_TOK, name, 'expected.jsonl')) : [];

    it('encodes every fixture string to the same ids and pieces', () => {
      const bad = expected.filter((e) => JSON.stringify(tok.encode(e.text)) !== JSON.stringify(e.ids));
      expect(bad.map((e) => e.text)).toEqual([]);
      for (const e of expected) expect(tok.encodeAsPieces(e.text)).toEqual(e.pieces);
      expect(expected.length).toBe(49);
    });

    it('decodes every fixture to the same text, which is the input', () => {
      for (const e of expected) {
        expect(tok.decode(e.ids)).toBe(e.decoded);
        expect(tok.decode(tok.encode(e.text))).toBe(e.text);
      }
    });

    it('matches SentencePiece on a sample of real mixed text', () => {
      const rows = readJsonl<Record<string, unknown>>(join(OWN, 'corpus-sample.jsonl'));
      for (const r of rows) expect(tok.encode(r.text as string), r.text as string).toEqual(r[name]);
    });

    it('has MiniCPM special ids and handles control tokens only on request', () => {
      expect([tok.unkId, tok.bosId, tok.eosId]).toEqual([0, 1, 2]);
      expect(tok.encode('<s>hi</s>')).not.toContain(1);
      expect(tok.encode('<s>hi</s>', { parseSpecial: true })).toEqual([1, ...tok.encode('hi'), 2]);
      expect(tok.encode('hi', { addBos: true, addEos: true })).toEqual([1, ...tok.encode('hi'), 2]);
      expect(tok.decode([1, ...tok.encode('hi'), 2])).toBe('hi');
      expect(tok.decode([1, ...tok.encode('hi'), 2], { skipSpecial: false })).toBe('<s>hi</s>');
      expect(tok.decode([0])).toBe(' \u2047 ');
    });

    it('gives the same ids on a second pass (the segment cache is transparent)', () => {
      const text = expected.map((e) => e.text).join(' ');
      expect(tok.encode(text)).toEqual(tok.encode(text));
      const long = '人工智能正在改变世界'.repeat(20) + ' word'.repeat(50);
      expect(tok.decode(tok.encode(long))).toBe(long);
    });
  },
);

describe.each([
  ['tiny-nfkc', 'nmt_nfkc charsmap, dummy prefix, extra-whitespace removal'],
  ['tiny-unused', 'identity normalizer with UNUSED pieces resegmented'],
])('%s (%s) vs SentencePiece', (name) => {
  const tok = load(join(OWN, `${name}.model`));
  it('encodes and decodes like SentencePiece', () => {
    for (const e of readJsonl<Expected>(join(OWN, `${name}.expected.jsonl`))) {
      expect(tok.encode(e.text), JSON.stringify(e.text)).toEqual(e.ids);
      expect(tok.decode(e.ids)).toBe(e.decoded);
    }
  });
});

describe('tokenizer.model parsing', () => {
  const bytes = readFileSync(join(OWN, 'tiny-unused.model'));

  it('round-trips through our protobuf writer', () => {
    const proto = decodeModelProto(bytes);
    const again = decodeModelProto(encodeModelProto(proto));
    expect(again.pieces).toEqual(proto.pieces);
    expect(again.normalizerSpec.addDummyPrefix).toBe(proto.normalizerSpec.addDummyPrefix);
    expect(again.trainerSpec.byteFallback).toBe(true);
  });

  it('rejects truncated and corrupt files with a typed error', () => {
    expect(() => SentencePieceTokenizer.fromModelBytes(bytes.subarray(0, bytes.length >> 1))).toThrow(
      TokenizerFormatError,
    );
    expect(() => SentencePieceTokenizer.fromModelBytes(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(
      TokenizerFormatError,
    );
    expect(() => SentencePieceTokenizer.fromModelBytes(new TextEncoder().encode('{"model": {}}'))).toThrow(
      TokenizerFormatError,
    );
  });

  it('refuses Unigram models with a message that says what to do', () => {
    const proto = decodeModelProto(bytes);
    proto.trainerSpec.modelType = 1;
    expect(() => SentencePieceTokenizer.fromProto(proto)).toThrow(UnsupportedTokenizerError);
    expect(() => SentencePieceTokenizer.fromProto(proto)).toThrow(/tokenizer\.json/);
  });
});
