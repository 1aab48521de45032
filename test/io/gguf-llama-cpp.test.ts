/**
 * Parity with llama.cpp: the tiny MiniCPM fixtures exported to GGUF by `minicpm export` and run by
 * llama.cpp (through node-llama-cpp, CPU) give the reference greedy ids, and llama.cpp's next-token
 * log-probabilities agree with our forward pass. Skipped visibly without node-llama-cpp or the fixtures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { openGguf } from '../../src/io/gguf.js';
import { readLlama2c, saveFolder } from '../../src/io/index.js';
import { configFromHF } from '../../src/models/config.js';
import { exportModelToGguf } from '../../src/models/gguf-export.js';
import { loadModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { ggufVocabFromTokenizer } from '../../src/tokenizer/gguf-export.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { backendCases, install } from '../helpers/backends.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
let nlc: NodeLlamaCpp | undefined;
try {
  nlc = await import('node-llama-cpp');
} catch {
  console.warn(
    '[gguf-llama-cpp] SKIPPING: node-llama-cpp is not installed (npm install --save-dev node-llama-cpp)',
  );
}
const native = backendCases().find((c) => c.name === 'native')?.backend ?? null;
const backend = native ?? backendCases()[0].backend;
const run = nlc !== undefined && hasShared;
const dir = tempDir('gguf-llama-cpp');

interface Expected {
  greedy: { prompt: number[]; ids: number[] };
}

/** log-softmax of one row. */
function logSoftmax(row: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < row.length; i++) mx = Math.max(mx, row[i]);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i] - mx);
  const lz = mx + Math.log(z);
  return Float64Array.from(row, (x) => x - lz);
}

describe.skipIf(!run)('GGUF export → llama.cpp (node-llama-cpp, CPU)', () => {
  let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
  beforeAll(async () => {
    install(backend);
    llama = await nlc!.getLlama({ gpu: false, build: 'never' });
  });
  afterAll(async () => {
    await llama?.dispose();
  });

  /** Greedy-decode `n` tokens after `prompt` in llama.cpp; returns the ids and each step's probabilities. */
  async function llamaGreedy(file: string, prompt: number[], n: number) {
    const model = await llama.loadModel({ modelPath: file });
    const ctx = await model.createContext({ contextSize: 128, threads: 2 });
    try {
      const seq = ctx.getSequence();
      const ids: number[] = [];
      const probs: Map<number, number>[] = [];
      const tokens = prompt as unknown as Parameters<typeof seq.evaluateWithMetadata>[0];
      for await (const r of seq.evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 0 })) {
        ids.push(r.token);
        probs.push(r.probabilities);
        if (ids.length >= n) break;
      }
      return { ids, probs };
    } finally {
      await ctx.dispose();
      await model.dispose();
    }
  }

  /** max |log p_ours − log p_llama| over tokens llama.cpp gives p > 1e-6, for each generated step. */
  async function compare(
    fixture: string, // a fixture name, or the path of a model folder
    file: string,
    prompt: number[],
    got: { ids: number[]; probs: Map<number, number>[] },
  ) {
    const model = await loadModel(
      fixture.includes('/') ? fixture : path.join(sharedFixtures, 'minicpm', fixture),
    );
    const seqIds = [...prompt, ...got.ids.slice(0, -1)];
    const V = model.config.vocabSize;
    const logits = noGrad(() =>
      model.forward(Tensor.from(Int32Array.from(seqIds), [1, seqIds.length], 'i32')),
    ).toArray();
    let maxErr = 0;
    for (let s = 0; s < got.ids.length; s++) {
      const t = prompt.length - 1 + s;
      const ours = logSoftmax(logits.slice(t * V, (t + 1) * V));
      const theirs = got.probs[s];
      expect(theirs.size).toBe(V);
      let arg = 0;
      for (let i = 1; i < V; i++) if (ours[i] > ours[arg]) arg = i;
      expect(arg).toBe(got.ids[s]);
      for (const [tok, p] of theirs)
        if (p > 1e-6) maxErr = Math.max(maxErr, Math.abs(Math.log(p) - ours[tok]));
    }
    return maxErr;
  }

  for (const fixture of ['tiny-mha', 'tiny-gqa']) {
    it(`${fixture}: greedy ids and next-token log-probs match`, async () => {
      const fx = path.join(sharedFixtures, 'minicpm', fixture);
      const expected = JSON.parse(fs.readFileSync(path.join(fx, 'expected.json'), 'utf8')) as Expected;
      const file = path.join(dir, `${fixture}.gguf`);
      await exportCommand({ model: fx, format: 'gguf', output: file, dtype: 'f32' });
      const g = await openGguf(file);
      expect(g.getString('general.architecture')).toBe('minicpm');

      // 1. The reference greedy continuation, fed as ids (no tokenizer round trip).
      const { prompt, ids } = expected.greedy;
      const greedy = await llamaGreedy(file, prompt, ids.length - prompt.length);
      expect([...prompt, ...greedy.ids]).toEqual(ids);
      const errGreedy = await compare(fixture, file, prompt, greedy);

      // 2. A longer pseudo-random prompt (every position and many ids), 6 steps.
      const V = (JSON.parse(fs.readFileSync(path.join(fx, 'config.json'), 'utf8')) as { vocab_size: number })
        .vocab_size;
      let s = 12345;
      const rnd = Array.from({ length: 40 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
      const other = await llamaGreedy(file, rnd, 6);
      const errRandom = await compare(fixture, file, rnd, other);

      console.log(
        `[gguf-llama-cpp] ${fixture}: greedy ids equal; max |Δ log p| greedy ${errGreedy.toExponential(2)}, random prompt ${errRandom.toExponential(2)}`,
      );
      expect(errGreedy).toBeLessThan(1e-3);
      expect(errRandom).toBeLessThan(1e-3);
    });
  }

  // A trained Llama written with general.architecture = llama (the exporter's default for Llama folders).
  // llama.cpp keeps its KV cache in f16, so log-probs agree only to ~4e-2 here (the random fixtures' flatter
  // distributions hide it); its argmax must be ours wherever its top-1 margin exceeds 0.02 nats, and the
  // arch-minicpm export of the same folder must give llama.cpp the very same probabilities.
  const STORIES = path.join(sharedFixtures, 'llama2c/stories260K.bin');
  it.skipIf(!fs.existsSync(STORIES))(
    'stories260K (llama2.c) as arch llama: llama.cpp agrees with our forward pass and with its minicpm-arch twin',
    async () => {
      const ckpt = readLlama2c(STORIES);
      const folder = path.join(dir, 'stories260K');
      await saveFolder(folder, { config: ckpt.config, tensors: ckpt.tensors });
      const file = path.join(dir, 'stories260K.gguf');
      const twin = path.join(dir, 'stories260K-minicpm.gguf');
      await exportCommand({ model: folder, format: 'gguf', output: file, dtype: 'f32' });
      await exportCommand({ model: folder, format: 'gguf', output: twin, dtype: 'f32', arch: 'minicpm' });
      const g = await openGguf(file);
      expect(g.getString('general.architecture')).toBe('llama');
      await g.close();
      const model = await loadModel(folder);
      const V = model.config.vocabSize;
      let err = 0;
      let checked = 0;
      for (const prompt of [[1], [1, 403, 407, 261, 378]]) {
        const got = await llamaGreedy(file, prompt, 16);
        const other = await llamaGreedy(twin, prompt, 16);
        expect(other.ids).toEqual(got.ids);
        const seqIds = [...prompt, ...got.ids.slice(0, -1)];
        const logits = noGrad(() =>
          model.forward(Tensor.from(Int32Array.from(seqIds), [1, seqIds.length], 'i32')),
        ).toArray();
        for (let s = 0; s < got.ids.length; s++) {
          expect([...other.probs[s]]).toEqual([...got.probs[s]]);
          const ours = logSoftmax(logits.slice((prompt.length - 1 + s) * V, (prompt.length + s) * V));
          for (const [tok, p] of got.probs[s])
            if (p > 1e-4) err = Math.max(err, Math.abs(Math.log(p) - ours[tok]));
          const p = [...got.probs[s].values()].sort((x, y) => y - x);
          if (Math.log(p[0]) - Math.log(p[1]) < 0.02) continue;
          expect(ours.indexOf(Math.max(...ours)), `step ${s}`).toBe(got.ids[s]);
          checked++;
        }
      }
      console.log(
        `[gguf-llama-cpp] stories260K arch llama: argmax equal at ${checked} steps; max |Δ log p| ${err.toExponential(2)}`,
      );
      expect(checked).toBeGreaterThan(24);
      expect(err).toBeLessThan(0.05);
    },
  );

  const TOK = path.join(sharedFixtures, 'tokenizer/minicpm-2b/tokenizer.model');
  it.skipIf(!fs.existsSync(TOK))(
    'MiniCPM-2B tokenizer embedded: llama.cpp tokenizes and decodes as we do',
    async () => {
      const { tokenizer, chatTemplate } = loadTokenizer(TOK);
      const config = configFromHF({
        vocab_size: tokenizer.vocabSize,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        max_position_embeddings: 64,
        scale_emb: 12,
        scale_depth: 1.4,
        dim_model_base: 16,
      });
      const model = MiniCPM.init(config, new Rng(7));
      const file = path.join(dir, 'tok.gguf');
      await exportModelToGguf(model, file, {
        tokenizer: ggufVocabFromTokenizer(tokenizer, config.vocabSize, { chatTemplate }),
      });
      const lm = await llama.loadModel({ modelPath: file });
      try {
        const texts = [
          'Hello world',
          'MiniCPM 是面壁智能与清华大学自然语言处理实验室共同开源的系列端侧大模型。',
          'Tabs\tand\nnewlines,  double  spaces and numbers 1234567.',
          'emoji 🙂 and rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
        ];
        for (const text of texts) {
          const ours = tokenizer.encode(text);
          const theirs = [...lm.tokenize(text)].map(Number);
          expect(theirs, text).toEqual(ours);
          expect(lm.detokenize(ours as unknown as Parameters<typeof lm.detokenize>[0])).toBe(
            tokenizer.decode(ours),
          );
        }
        expect(Number(lm.tokens.bos)).toBe(tokenizer.bosId);
        expect(Number(lm.tokens.eos)).toBe(tokenizer.eosId);
      } finally {
        await lm.dispose();
        model.parameters().forEach((t) => t.dispose());
      }
    },
  );
});
