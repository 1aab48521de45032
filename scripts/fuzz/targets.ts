/**
 * What the fuzzer feeds: for each file format, real seed files (the shared fixtures and the project's
 * own), how a mutated case is laid out on disk, and the reader a user's command would call on it. A
 * reader must end in success or in one of our typed errors.
 */
import fs from 'node:fs';
// the package entry installs the tensor backend the readers and quantizer need
import '../../src/index.js';
import path from 'node:path';
import { openGgufSync } from '../../src/io/gguf.js';
import { openWeights, readConfig } from '../../src/io/hf-folder.js';
import { openPytorchBin } from '../../src/io/pytorch-bin.js';
import { writeShardedSafetensors } from '../../src/io/sharded.js';
import { configFromHF } from '../../src/models/config.js';
import { loadModel } from '../../src/models/load.js';
import { tensorToRecord } from '../../src/models/weights.js';
import { loadAnyModel, quantizeModel, saveQuantizedModel } from '../../src/quant/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';

const here = path.dirname(new URL(import.meta.url).pathname);
export const ROOT = path.resolve(here, '../..');
export const SHARED = path.resolve(ROOT, '../shared/fixtures');

export interface Target {
  name: string;
  /** The seed: a file, or a folder whose files are mutated one at a time. */
  seeds: () => Promise<string[]>;
  /** Files of a folder seed that mutations may touch (default: all). */
  mutable?: (file: string) => boolean;
  /** Reads the case at `p` (the mutated file, or the folder) the way a command would. */
  read: (p: string) => Promise<void>;
}

const existing = (...files: string[]): string[] => files.filter((f) => fs.existsSync(f));

/** Reads every tensor of a reader (all of its bytes reach the checks), then closes it. */
async function drain(
  open: Promise<{ names(): string[]; readSync(n: string): unknown; close(): Promise<void> }>,
) {
  const r = await open;
  try {
    for (const n of r.names()) r.readSync(n);
  } finally {
    await r.close();
  }
}

/** Seeds made by our writers (sharded and AutoGPTQ folders) live here, made once per fuzz run. */
let madeDir = '';
export function setSeedDir(dir: string): void {
  madeDir = dir;
}

async function shardedSeed(): Promise<string[]> {
  const src = path.join(SHARED, 'minicpm/tiny-mha');
  if (!fs.existsSync(src)) return [];
  const dir = path.join(madeDir, 'sharded');
  if (!fs.existsSync(path.join(dir, 'model.safetensors.index.json'))) {
    const model = await loadModel(src);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
    await writeShardedSafetensors(
      dir,
      [...model.params].map(([n, t]) => tensorToRecord(n, t)),
      { maxShardBytes: 200_000 },
    );
  }
  return [dir];
}

async function gptqSeed(): Promise<string[]> {
  const src = path.join(SHARED, 'minicpm/tiny-mha');
  if (!fs.existsSync(src)) return [];
  const dir = path.join(madeDir, 'gptq');
  if (!fs.existsSync(path.join(dir, 'quantize_config.json'))) {
    const model = await loadModel(src);
    const V = model.config.vocabSize;
    const calibration = [Array.from({ length: 16 }, (_, i) => (i * 7) % V)];
    await saveQuantizedModel(dir, quantizeModel(model, calibration, { groupSize: 16 }));
  }
  return [dir];
}

/**
 * MiniCPM's tokenizer.json cut to its first `KEEP_IDS` ids (specials, byte fallbacks and the first merges)
 * plus ▁, with the merges among them: every section of the real file, at 1/40 of its 3.6 MB, so a case costs
 * ~0.1 s to parse instead of ~3 s and 1,000 cases fit in minutes. Made once per fuzz run.
 */
const KEEP_IDS = 4000;
async function smallTokenizerSeed(): Promise<string[]> {
  const src = path.join(SHARED, 'tokenizer/minicpm-1b/tokenizer.json');
  if (!fs.existsSync(src)) return [];
  const file = path.join(madeDir, 'tokenizer-small', 'tokenizer.json');
  if (!fs.existsSync(file)) {
    const json = JSON.parse(fs.readFileSync(src, 'utf8')) as {
      added_tokens: { id: number }[];
      model: { vocab: Record<string, number>; merges: string[] };
    };
    // and the word-boundary mark, so words merge as in the full file (ids then have a gap, as HF allows)
    const vocab = Object.fromEntries(
      Object.entries(json.model.vocab).filter(([t, id]) => id < KEEP_IDS || t === '\u2581'),
    );
    json.model.vocab = vocab;
    json.model.merges = json.model.merges.filter((m) => {
      const [a, b] = m.split(' ');
      return [a, b, a + b].every((t) => Object.hasOwn(vocab, t));
    });
    json.added_tokens = json.added_tokens.filter((t) => t.id < KEEP_IDS);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(json));
  }
  return [file];
}

export const TARGETS: Target[] = [
  {
    name: 'safetensors',
    seeds: async () => existing(path.join(SHARED, 'minicpm/tiny-mha/model.safetensors')),
    read: (p) => drain(openWeights(path.dirname(p))),
  },
  {
    name: 'sharded-index',
    seeds: shardedSeed,
    read: (dir) => drain(openWeights(dir)),
    mutable: (f) => f.endsWith('.json') || f.endsWith('.safetensors'),
  },
  {
    name: 'gguf',
    seeds: async () =>
      existing(
        path.join(SHARED, 'gguf/ggml-vocab-llama-spm.gguf'),
        path.join(SHARED, 'gguf/ggml-vocab-gpt-2.gguf'),
      ),
    read: async (p) => {
      const g = openGgufSync(p);
      try {
        for (const t of g.tensors) g.readRawSync(t.name);
      } finally {
        await g.close();
      }
    },
  },
  {
    name: 'pytorch',
    seeds: async () =>
      ['state-dict.pt', 'module.pt', 'module-deflated.pt', 'state-dict-zip64.pt', 'legacy.pt', 'malicious.pt']
        .map((f) => path.join(ROOT, 'test/fixtures/io', f))
        .filter((f) => fs.existsSync(f)),
    read: (p) => drain(openPytorchBin(p)),
  },
  {
    name: 'tokenizer.model',
    seeds: async () =>
      existing(
        path.join(ROOT, 'test/fixtures/tokenizer/tiny-nfkc.model'),
        path.join(ROOT, 'test/fixtures/tokenizer/tiny-unused.model'),
      ),
    read: async (p) => {
      const { tokenizer } = loadTokenizer(p);
      tokenizer.decode(tokenizer.encode('Hello, 世界! 123'));
    },
  },
  {
    name: 'tokenizer.json',
    seeds: smallTokenizerSeed,
    read: async (p) => {
      const { tokenizer } = loadTokenizer(p);
      tokenizer.decode(tokenizer.encode('Hello, 世界! 123'));
    },
  },
  {
    name: 'config.json',
    seeds: async () => existing(path.join(SHARED, 'minicpm/tiny-mha/config.json')),
    read: async (p) => {
      configFromHF(await readConfig(path.dirname(p)));
    },
  },
  {
    name: 'autogptq',
    seeds: gptqSeed,
    read: async (dir) => {
      const m = await loadAnyModel(dir);
      for (const p of m.parameters()) p.dispose();
    },
    mutable: (f) => f.endsWith('.json') || f.endsWith('.safetensors'),
  },
];
