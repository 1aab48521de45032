/**
 * `minicpm perplexity` end to end: a Q8_0 GGUF export of a fixture (tokenizer from the file) scored on a
 * text file against its f32 folder (--kl-base) gives what the library computes on the same ids; bad
 * flags and inputs are named.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { loadModelTokenizer } from '../../src/cli/model-tokenizer.js';
import { formatPerplexity, perplexityCommand } from '../../src/cli/perplexity-command.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { loadModel } from '../../src/models/load.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { backendCases, install } from '../helpers/backends.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const fixture = path.resolve(__dirname, '../../../shared/fixtures/minicpm/tiny-mha');
const has = fs.existsSync(fixture);

describe.skipIf(!has)('minicpm perplexity', () => {
  it('scores a GGUF file against its folder as the library does on the same ids', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-ppl-'));
    try {
      const file = path.join(dir, 'm.gguf');
      await exportCommand({ model: fixture, format: 'gguf', output: file, dtype: 'q8_0' });
      const text = path.join(dir, 'text.txt');
      const words = Array.from({ length: 400 }, (_, i) => `w${(i * 7919) % 97}`).join(' ');
      fs.writeFileSync(text, words);
      const logs: string[] = [];
      const log = console.log;
      console.log = (s: string) => logs.push(s);
      let r;
      try {
        r = await perplexityCommand({
          model: file,
          input: text,
          ctx: '32',
          klBase: fixture,
          dtype: 'f32',
          json: true,
        });
      } finally {
        console.log = log;
      }
      const tok = loadModelTokenizer(file).tokenizer;
      const ids = [tok.bosId, ...tok.encode(words)];
      const want = perplexity(await loadGgufModel(file, {}, () => {}), ids, {
        ctx: 32,
        bosId: tok.bosId,
        base: await loadModel(fixture),
      });
      expect(r).toEqual(want);
      expect(JSON.parse(logs[0])).toEqual(JSON.parse(JSON.stringify(want)));
      expect(r.kl!.mean).toBeGreaterThan(0);
      expect(formatPerplexity(r)).toMatch(
        /^PPL = [\d.]+ \+\/- [\d.]+ {2}\(\d+ windows of 32, \d+ scored tokens\)\nbase PPL = .*\nMean KLD = .*\nSame top p = .* %$/,
      );
      await expect(
        perplexityCommand({ model: file, input: path.join(dir, 'none.txt'), ctx: '32', dtype: 'f32' }),
      ).rejects.toThrow(/--input .* does not exist/);
      await expect(perplexityCommand({ model: file, input: text, ctx: '32', dtype: 'f16' })).rejects.toThrow(
        /--dtype must be f32 or bf16/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
