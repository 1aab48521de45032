/**
 * `minicpm perplexity --head-dtype int8`: the int8-head row of the README's quality table from the CLI.
 * The scores equal the library's perplexity of the same model with useInt8Head applied, against the
 * float model as --kl-base (a small, nonzero KLD); a bad value is a typed error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { loadModelTokenizer } from '../../src/cli/model-tokenizer.js';
import { perplexityCommand } from '../../src/cli/perplexity-command.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { loadModel } from '../../src/models/load.js';
import { QuantShapeError } from '../../src/quant/errors.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { useInt8Head } from '../../src/quant/int8-head.js';
import { backendCases, install } from '../helpers/backends.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const fixture = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpm/tiny-mha');
const has = fs.existsSync(fixture);

describe.skipIf(!has)('minicpm perplexity --head-dtype', () => {
  it('int8: as the library scores the model with useInt8Head, against the float model', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-ppl-head-'));
    const log = console.log;
    try {
      const file = path.join(dir, 'm.gguf');
      await exportCommand({ model: fixture, format: 'gguf', output: file, dtype: 'f32' });
      const text = path.join(dir, 'text.txt');
      const words = Array.from({ length: 300 }, (_, i) => `w${(i * 7919) % 89}`).join(' ');
      fs.writeFileSync(text, words);
      const opts = { model: file, input: text, ctx: '32', klBase: fixture, dtype: 'f32', json: true };
      console.log = () => {};
      const r = await perplexityCommand({ ...opts, headDtype: 'int8' });
      const tok = loadModelTokenizer(file).tokenizer;
      const ids = [tok.bosId, ...tok.encode(words)];
      const m = await loadGgufModel(file, {}, () => {});
      useInt8Head(m);
      const want = perplexity(m, ids, { ctx: 32, bosId: tok.bosId, base: await loadModel(fixture) });
      expect(r).toEqual(want);
      expect(r.kl!.mean).toBeGreaterThan(0);
      expect(r.kl!.mean).toBeLessThan(0.01);
      const float = await perplexityCommand({ ...opts, headDtype: 'float' });
      expect(float.kl!.mean).toBeLessThan(r.kl!.mean); // the f32 export of the fixture: only rounding
      await expect(perplexityCommand({ ...opts, headDtype: 'int4' })).rejects.toThrow(QuantShapeError);
    } finally {
      console.log = log;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
