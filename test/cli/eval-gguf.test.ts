/**
 * `minicpm eval --model FILE.gguf`: the tokenizer comes from the file (tokenizer.ggml.*), as for generate,
 * serve, logits and perplexity; the scores are those of the same file with the exported folder's
 * tokenizer named explicitly (the exporter writes the folder's tokenizer.model into the file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalCommand } from '../../src/cli/eval-command.js';
import { exportCommand } from '../../src/cli/export-command.js';
import { saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { Rng } from '../../src/tensor/index.js';
import { encodeModelProto } from '../../src/tokenizer/index.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { backendCases, install } from '../helpers/backends.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const bench = path.resolve(import.meta.dirname, '../../../shared/data/benchmarks');
const has = fs.existsSync(path.join(bench, 'arc'));

describe.skipIf(!has)('minicpm eval on a GGUF file', () => {
  it('reads the tokenizer from the file and scores as with the folder tokenizer', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-eval-gguf-'));
    const quiet = process.stderr.write.bind(process.stderr);
    try {
      const tokDir = path.join(dir, 'tok');
      fs.mkdirSync(tokDir);
      const proto = trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 }));
      fs.writeFileSync(path.join(tokDir, 'tokenizer.model'), encodeModelProto(proto));
      const folder = path.join(dir, 'model');
      await saveModel(folder, MiniCPM.init(presetConfig('tiny', 400), new Rng(5)), { tokenizerFrom: tokDir });
      const file = path.join(dir, 'm.gguf');
      await exportCommand({ model: folder, format: 'gguf', output: file, dtype: 'q8_0' });
      const opts = {
        model: file,
        tasks: 'arc-e',
        protocol: 'ultraeval',
        mode: 'ppl',
        limit: '3',
        seed: '0',
        mathSet: 'full',
        data: bench,
      };
      process.stderr.write = () => true;
      const got = await evalCommand({ ...opts, out: path.join(dir, 'a') });
      const want = await evalCommand({ ...opts, tokenizer: folder, out: path.join(dir, 'b') });
      expect(got.length).toBe(1);
      expect(got[0].items).toBe(3);
      expect(got).toEqual(want);
    } finally {
      process.stderr.write = quiet;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
