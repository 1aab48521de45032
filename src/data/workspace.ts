/**
 * A data workspace: the built-in corpus, a BPE tokenizer trained on a sample of it, and tokenized
 * shards for the named mixtures. The demo and the sandbox studies both start from one; every step is
 * cached (an existing tokenizer or shard set is reused), so a rerun only does what is missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { trainBpeFromFiles } from '../tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../tokenizer/trainer-output.js';
import { buildCorpus, corpusDocsDir } from './corpus/build-corpus.js';
import { loadTextEncoder } from './load-tokenizer.js';
import { loadMixture } from './mixture.js';
import { prepareMixture } from './shards/prepare.js';

export interface Workspace {
  tokenizerDir: string;
  shardsDir: string;
  corpusDir: string;
}

/** A tokenizer-training sample: the first bytes of every source's training split, as plain text lines. */
function writeTokenizerSample(docsDir: string, file: string, perSource: number): void {
  const out: string[] = [];
  for (const f of fs
    .readdirSync(docsDir)
    .filter((n) => n.endsWith('.train.jsonl'))
    .sort()) {
    let bytes = 0;
    const fd = fs.openSync(path.join(docsDir, f), 'r');
    const buf = Buffer.alloc(perSource * 2);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    for (const line of buf.subarray(0, n).toString('utf8').split('\n').slice(0, -1)) {
      const text = (JSON.parse(line) as { text: string }).text;
      out.push(text);
      bytes += Buffer.byteLength(text);
      if (bytes > perSource) break;
    }
  }
  fs.writeFileSync(file, out.join('\n'));
}

export async function ensureCorpus(log: (msg: string) => void): Promise<string> {
  await buildCorpus({ log });
  return path.dirname(corpusDocsDir());
}

/** Trains `dir/tokenizer.model` (+ tokenizer.json) unless it exists. */
export async function ensureTokenizer(
  dir: string,
  corpusDir: string,
  vocabSize: number,
  sampleBytes: number,
  log: (msg: string) => void,
  /** Characters kept whole (the rest fall back to bytes); small vocabularies need < 0.9995. */
  characterCoverage?: number,
): Promise<void> {
  if (fs.existsSync(path.join(dir, 'tokenizer.model'))) return log(`   reusing ${dir}`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const sample = `${dir}-sample.txt`;
  writeTokenizerSample(corpusDocsDir(corpusDir), sample, sampleBytes);
  const result = await trainBpeFromFiles([sample], {
    vocabSize,
    ...(characterCoverage === undefined ? {} : { characterCoverage }),
    userDefinedSymbols: ['\n', '\t', '<用户>', '<AI>'],
  });
  writeTrainedTokenizer(result, dir);
}

/** Tokenizes each named mixture into `shardsDir` (prepareMixture skips what is already there). */
export async function ensureShards(
  shardsDir: string,
  tokenizerDir: string,
  corpusDir: string,
  mixtures: string[],
  log: (msg: string) => void,
): Promise<void> {
  const encoder = await loadTextEncoder(tokenizerDir);
  for (const name of mixtures) {
    await prepareMixture({
      mixture: loadMixture(name),
      encoder,
      tokenizerPath: tokenizerDir,
      output: shardsDir,
      corpusDir,
      log,
    });
  }
}

/** All three steps into `root/tokenizer` and `root/shards`. */
export async function prepareWorkspace(o: {
  root: string;
  vocabSize: number;
  tokenizerSampleBytes: number;
  characterCoverage?: number;
  mixtures: string[];
  log: (msg: string) => void;
}): Promise<Workspace> {
  const corpusDir = await ensureCorpus(o.log);
  const tokenizerDir = path.join(o.root, 'tokenizer');
  await ensureTokenizer(
    tokenizerDir,
    corpusDir,
    o.vocabSize,
    o.tokenizerSampleBytes,
    o.log,
    o.characterCoverage,
  );
  const shardsDir = path.join(o.root, 'shards');
  await ensureShards(shardsDir, tokenizerDir, corpusDir, o.mixtures, o.log);
  return { tokenizerDir, shardsDir, corpusDir };
}
