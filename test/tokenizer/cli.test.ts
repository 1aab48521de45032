import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerTokenizerCommands } from '../../src/cli/tokenizer-commands.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { SHARED, SHARED_TOK, TRAIN_TEXT, hasGguf, hasShared } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'minicpm-cli-'));

async function run(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const program = new Command('minicpm').exitOverride();
    registerTokenizerCommands(program);
    await program.parseAsync(argv, { from: 'user' });
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  return out.join('\n');
}

afterEach(() => vi.restoreAllMocks());

describe('minicpm tokenizer train / tokenize / stats', () => {
  it('trains, then tokenizes JSONL and --text with the result, then measures bytes per token', async () => {
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, TRAIN_TEXT.join('\n'));
    const out = join(dir, 'tok');
    expect(
      await run('tokenizer', 'train', '--input', corpus, '--vocab-size', '450', '--output', out),
    ).toMatch(/trained 450 pieces/);
    const tok = loadTokenizer(out).tokenizer;

    const strings = join(dir, 'strings.jsonl');
    writeFileSync(strings, ['"hello world"', '"你好，世界"', '{"text": "code()"}'].join('\n') + '\n');
    const ids = join(dir, 'ids.jsonl');
    await run('tokenize', '--tokenizer', out, '--input', strings, '--output', ids);
    const rows = readFileSync(ids, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ids: number[] });
    expect(rows.map((r) => r.ids)).toEqual([
      tok.encode('hello world'),
      tok.encode('你好，世界'),
      tok.encode('code()'),
    ]);

    const one = JSON.parse(await run('tokenize', '--tokenizer', out, '--text', 'hello', '--add-bos')) as {
      ids: number[];
    };
    expect(one.ids).toEqual([1, ...tok.encode('hello')]);

    const table = await run(
      'tokenizer',
      'stats',
      '--tokenizer',
      join(out, 'tokenizer.model'),
      '--input',
      corpus,
    );
    expect(table).toMatch(/bytes\/token/);
    const json = JSON.parse(
      await run('tokenizer', 'stats', '--tokenizer', out, '--input', corpus, '--json'),
    ) as {
      rows: { bytesPerToken: number }[][];
    };
    expect(json.rows[0][0].bytesPerToken).toBeGreaterThan(2);
  });

  it('fails with a clear message on a bad input line', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, 'not json\n');
    await expect(run('tokenize', '--tokenizer', join(dir, 'tok'), '--input', bad)).rejects.toThrow(
      /JSON string/,
    );
  });

  it.skipIf(!hasShared)('loads a model folder, preferring tokenizer.model unless told otherwise', () => {
    const folder = join(SHARED_TOK, 'minicpm-1b');
    expect(loadTokenizer(folder).tokenizer.kind).toBe('sentencepiece-bpe');
    expect(loadTokenizer(folder, { prefer: 'json' }).tokenizer.kind).toBe('hf-bpe');
  });

  it.skipIf(!hasGguf)('tokenizes with the vocabulary inside a GGUF file (read by io/gguf)', async () => {
    const out = JSON.parse(
      await run(
        'tokenize',
        '--tokenizer',
        join(SHARED, 'gguf', 'ggml-vocab-llama-spm.gguf'),
        '--text',
        'Hello world',
      ),
    ) as { ids: number[] };
    expect(out.ids).toEqual([15043, 3186]);
  });
});
