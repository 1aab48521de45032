/**
 * A small MiniCPM folder for the browser tests and benchmarks: random weights (seeded) with a real
 * SentencePiece tokenizer (test/fixtures/tokenizer/tiny-nfkc.model, 1,200 pieces), written by saveModel
 * exactly as `minicpm` writes checkpoints; its GGUF exports and GPTQ quantizations; the Chromium set-up.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { castFloat } from '../../src/io/dtypes.js';
import { openWeights, readConfig } from '../../src/io/hf-folder.js';
import { writeShardedSafetensors } from '../../src/io/sharded.js';
import { configFromHF } from '../../src/models/config.js';
import { exportFolderToGguf } from '../../src/models/gguf-export.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { saveQuantizedModel } from '../../src/quant/gptq-folder.js';
import { quantizeModel } from '../../src/quant/quantize-model.js';
import { Rng } from '../../src/tensor/index.js';
import { ggufVocabFromTokenizer } from '../../src/tokenizer/gguf-export.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';

export const TINY_TOKENIZER = resolve(import.meta.dirname, '../fixtures/tokenizer/tiny-nfkc.model');

/** generationConfig replaces the default {bos_token_id, eos_token_id} (e.g. no end token at all). */
export async function makeBrowserModel(
  hf: Record<string, unknown> = {},
  seed = 7,
  generationConfig?: Record<string, unknown>,
): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'minicpm-web-'));
  const tokDir = join(tmp, 'tokenizer');
  mkdirSync(tokDir);
  copyFileSync(TINY_TOKENIZER, join(tokDir, 'tokenizer.model'));
  const config = configFromHF({
    model_type: 'minicpm',
    vocab_size: 1200,
    hidden_size: 64,
    intermediate_size: 160,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    ...hf,
  });
  const model = MiniCPM.init(config, new Rng(seed));
  // wider-than-init weights: a freshly initialised model greedily repeats one token, which would make
  // "same ids as Node" a weak check; these give varied, well-separated argmaxes
  const rng = new Rng(seed + 1);
  for (const [name, p] of model.params) {
    const d = p.data as Float32Array;
    const norm = name.endsWith('norm.weight');
    for (let i = 0; i < d.length; i++) d[i] = norm ? 1 + 0.1 * rng.normal() : 0.25 * rng.normal();
  }
  const dir = join(tmp, 'model');
  await saveModel(dir, model, { tokenizerFrom: tokDir, generationConfig });
  return dir;
}

/** A copy of a model folder with its weights as bf16 in `shards` safetensors files plus the index. */
export async function bf16Sharded(dir: string, shards: number): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'minicpm-web-sharded-'));
  for (const f of readdirSync(dir)) if (!f.endsWith('.safetensors')) copyFileSync(join(dir, f), join(out, f));
  const reader = await openWeights(dir);
  const records = reader.names().map((n) => castFloat(reader.readSync(n), 'BF16'));
  await reader.close();
  const total = records.reduce((s, r) => s + r.data.byteLength, 0);
  const { files } = await writeShardedSafetensors(out, records, { maxShardBytes: Math.ceil(total / shards) });
  if (files.length < 2) throw new Error(`expected several shards, got ${files.join(', ')}`);
  return out;
}

/** Debian's Chromium (CHROMIUM_PATH overrides) and the flags the browser tests launch it with. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The folder exported as a GGUF file of `dtype` with its SentencePiece vocabulary embedded. */
export async function ggufOf(dir: string, dtype: 'q4_0' | 'q8_0' | 'f16' | 'bf16' | 'f32'): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'minicpm-web-gguf-')), `model-${dtype}.gguf`);
  const { tokenizer, chatTemplate } = loadTokenizer(dir);
  const config = configFromHF(await readConfig(dir));
  await exportFolderToGguf(dir, out, {
    dtype,
    tokenizer: ggufVocabFromTokenizer(tokenizer, config.vocabSize, { chatTemplate }),
  });
  return out;
}

/** The folder quantized by GPTQ to `bits` (group size 32, act-order) on a few random sequences. */
export async function gptqOf(dir: string, bits: 4 | 8): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'minicpm-web-gptq-')), 'model');
  const model = await loadModel(dir);
  const rng = new Rng(11);
  const V = model.config.vocabSize;
  const seqs = Array.from({ length: 4 }, () =>
    Array.from({ length: 32 }, () => Math.floor(rng.uniform() * V)),
  );
  await saveQuantizedModel(out, quantizeModel(model, seqs, { bits, groupSize: 32, actOrder: true }), {
    tokenizerFrom: dir,
  });
  return out;
}

type AnswerState = { minicpmPage?: { state: string; lastIds: number[] } };

/** With the keyboard alone: the max-tokens field set, the prompt typed, Enter pressed. */
export async function typePrompt(page: Page, prompt: string, maxTokens: number): Promise<void> {
  await page.focus('#max-tokens');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(String(maxTokens));
  await page.focus('#prompt');
  await page.keyboard.type(prompt);
  await page.keyboard.press('Enter');
}

/** typePrompt, then the ids of the answer once the page is ready again. */
export async function askPage(page: Page, prompt: string, maxTokens: number): Promise<number[]> {
  await typePrompt(page, prompt, maxTokens);
  await page.waitForFunction(
    () =>
      (globalThis as unknown as AnswerState).minicpmPage!.state === 'ready' &&
      (globalThis as unknown as AnswerState).minicpmPage!.lastIds.length > 0,
    null,
    { timeout: 60_000 },
  );
  return page.evaluate(() => (globalThis as unknown as AnswerState).minicpmPage!.lastIds);
}
