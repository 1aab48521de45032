import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tokenizerFromGgufMetadata, vocabFromGgufMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { TokenizerFormatError } from '../../src/tokenizer/errors.js';
import { readGgufMetadata, readVocabTests } from './gguf-metadata.js';
import { SHARED, hasGguf } from './helpers.js';

const GGUF = join(SHARED, 'gguf');
if (!hasGguf)
  console.warn('[tokenizer tests] ../shared/fixtures/gguf is absent: GGUF vocabulary tests are skipped');

describe.skipIf(!hasGguf).each([
  ['llama-spm', 'llama'],
  ['gpt-2', 'gpt2'],
  ['deepseek-coder', 'gpt2'],
  ['deepseek-llm', 'gpt2'],
])("ggml-vocab-%s: llama.cpp's own test vectors", (name, model) => {
  it('encodes every input to the expected ids and decodes back', () => {
    const meta = readGgufMetadata(join(GGUF, `ggml-vocab-${name}.gguf`));
    expect(vocabFromGgufMetadata(meta).model).toBe(model);
    const tok = tokenizerFromGgufMetadata(meta);
    // GGUF add_bos_token is reported, not applied: encode adds BOS only when asked.
    expect(tok.addBosByDefault).toBe(name !== 'gpt-2');
    expect(tok.encode('a', { addBos: true })[0]).toBe(tok.bosId);
    const tests = readVocabTests(
      join(GGUF, `ggml-vocab-${name}.gguf.inp`),
      join(GGUF, `ggml-vocab-${name}.gguf.out`),
    );
    expect(tests.length).toBe(46);
    const bad = tests.filter((t) => tok.encode(t.text, { addBos: false }).join(' ') !== t.ids.join(' '));
    expect(bad.map((t) => t.text)).toEqual([]);
    // Decoding gives the input back (the SentencePiece dummy prefix is dropped again on decode); the
    // DeepSeek vocabularies lack some byte tokens, so their decode is lossy by design.
    if (!name.startsWith('deepseek')) for (const t of tests) expect(tok.decode(t.ids)).toBe(t.text);
  });
});

describe('GGUF vocabulary adapter', () => {
  it('says what is missing when a GGUF file has no tokenizer', () => {
    expect(() => vocabFromGgufMetadata(new Map([['general.architecture', 'minicpm']]))).toThrow(
      TokenizerFormatError,
    );
  });
});
