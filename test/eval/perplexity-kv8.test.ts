/**
 * `minicpm perplexity --kv-cache int8 --kl-base`: every window prefilled through an int8 cache, scored
 * against the same f32 model (a GGUF, so the tokenizer comes with it) without one — what the library computes, a small but nonzero KL
 * divergence, and the flag's bad values named. Also `logits --kv-cache int8` writes the logits of one
 * prefill through the cache.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { logitsCommand } from '../../src/cli/model-commands.js';
import { loadModelTokenizer } from '../../src/cli/model-tokenizer.js';
import { perplexityCommand } from '../../src/cli/perplexity-command.js';
import { perplexity } from '../../src/eval/perplexity.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { loadModel } from '../../src/models/load.js';
import { recordToTensor } from '../../src/models/weights.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const fixtures = path.resolve(__dirname, '../../../shared/fixtures/minicpm');
const fixture = path.join(fixtures, 'tiny-gqa');
const has = fs.existsSync(fixture);

/** Runs fn with console.log captured. */
async function quiet<R>(fn: () => Promise<R>): Promise<R> {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

describe.skipIf(!has)('--kv-cache int8 on perplexity and logits', () => {
  it('perplexity through an int8 cache against the f32 model: as the library computes, KLD small but nonzero', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-ppl-kv8-'));
    try {
      const text = path.join(dir, 'text.txt');
      const words = Array.from({ length: 400 }, (_, i) => `w${(i * 7919) % 97}`).join(' ');
      fs.writeFileSync(text, words);
      // an f32 GGUF of the fixture: the same weights, with a tokenizer in the file
      const file = path.join(dir, 'm.gguf');
      await quiet(() => exportCommand({ model: fixture, format: 'gguf', output: file, dtype: 'f32' }));
      const o = { model: file, input: text, ctx: '32', klBase: file, dtype: 'f32', json: true };
      const r = await quiet(() => perplexityCommand({ ...o, kvCache: 'int8' }));
      const tok = loadModelTokenizer(file).tokenizer;
      const ids = [tok.bosId, ...tok.encode(words)];
      const model = await loadGgufModel(file, {}, () => {});
      expect(r).toEqual(perplexity(model, ids, { ctx: 32, bosId: tok.bosId, base: model, kvCache: 'int8' }));
      expect(r.kl!.mean).toBeGreaterThan(0);
      expect(r.kl!.mean).toBeLessThan(1e-3);
      expect(r.kl!.top1).toBeGreaterThan(0.9);
      expect(Math.abs(r.ppl / r.kl!.basePpl - 1)).toBeLessThan(0.02);
      // through an f32 cache nothing changes
      const f = await quiet(() => perplexityCommand({ ...o, kvCache: 'f32' }));
      expect(f.kl!.mean).toBeLessThan(1e-9);
      await expect(perplexityCommand({ ...o, kvCache: 'int4' })).rejects.toThrow(
        /--kv-cache must be f32, bf16, int8, got "int4"/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logits --kv-cache int8 writes one prefill through an int8 cache', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-logits-kv8-'));
    try {
      const input = path.join(dir, 'in.json');
      const rows = [
        [5, 17, 99, 3, 250, 8],
        [64, 12, 7, 1, 2, 3],
      ];
      fs.writeFileSync(input, JSON.stringify({ inputs: rows }));
      const output = path.join(dir, 'out.safetensors');
      await quiet(() => logitsCommand({ model: fixture, input, output, kvCache: 'int8' }));
      const got = recordToTensor(openSafetensorsSync(output).readSync('logits')).toArray();
      const model = await loadModel(fixture);
      const c = model.config;
      const ids = Tensor.from(Int32Array.from(rows.flat()), [2, 6], 'i32');
      const cache = new KVCache(c.numLayers, 2, c.numKvHeads, c.headDim, 6, 'int8');
      const want = noGrad(() => model.forward(ids, cache)).toArray();
      const plain = noGrad(() => model.forward(ids)).toArray();
      expect(got).toEqual(want);
      expect(got).not.toEqual(plain);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
