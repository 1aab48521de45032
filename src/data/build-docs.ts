/**
 * Sources → clean, deduplicated documents with a validation split, one source at a time:
 * normalize and filter, drop exact and near duplicates (within the source and against every source built
 * before it), route to train/val, and write `<name>.{train,val}.jsonl` plus the manifest.
 *
 * Resumable and idempotent at source granularity: a source whose fingerprint and settings match its
 * manifest entry is not rebuilt, only replayed into the dedup index so later sources dedup against it;
 * an interrupted source leaves only `.tmp` files and is built again; once a source is rebuilt, the ones
 * after it are too, because what counts as their duplicates may have changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanDocument, defaultCleanOptions, type CleanOptions } from './clean.js';
import { Deduplicator, type DedupOptions } from './dedup/dedup.js';
import { DataError, InterruptedError } from './errors.js';
import { BufferedWriter } from './fs-util.js';
import {
  emptyManifest,
  readDocs,
  readManifest,
  writeManifest,
  type DocsManifest,
  type SourceManifest,
} from './manifest.js';
import { Progress } from './progress.js';
import { SplitRouter, type Split } from './split.js';
import { silent, type DocRecord, type Log, type RawDoc } from './types.js';

export interface DocSource {
  name: string;
  bucket: string;
  license: string;
  origin: string;
  description?: string;
  tags?: string[];
  /** Must change whenever the documents `docs()` yields could change (package version, extractor version, file mtimes). */
  fingerprint: string;
  clean?: Partial<CleanOptions>;
  /** Share of documents held out for validation (default 0.01; at least one document when there are two). */
  valFraction?: number;
  /** Near-duplicate removal (default true); exact duplicates are always removed. */
  nearDedup?: boolean;
  /** Raw bytes expected, for the progress ETA. */
  expectedBytes?: number;
  docs(log: Log): Iterable<RawDoc> | AsyncIterable<RawDoc>;
}

export interface BuildDocsOptions {
  outDir: string;
  log?: Log;
  dedup?: Partial<DedupOptions>;
  /** Rebuild every source even when its manifest entry is current. */
  force?: boolean;
  signal?: AbortSignal;
}

export const defaultValFraction = 0.01;

function settingsOf(src: DocSource, dedup: Partial<DedupOptions>): string {
  return JSON.stringify({
    clean: { ...defaultCleanOptions, ...src.clean },
    val: src.valFraction ?? defaultValFraction,
    near: src.nearDedup ?? true,
    dedup,
  });
}

function isCurrent(
  entry: SourceManifest | undefined,
  src: DocSource,
  settings: string,
  outDir: string,
): boolean {
  return (
    entry !== undefined &&
    entry.fingerprint === src.fingerprint &&
    entry.settings === settings &&
    fs.existsSync(path.join(outDir, entry.files.train)) &&
    fs.existsSync(path.join(outDir, entry.files.val))
  );
}

/** Put a finished source's documents back into the dedup index; false if they no longer dedup cleanly. */
async function replay(
  outDir: string,
  entry: SourceManifest,
  dedup: Deduplicator,
  near: boolean,
): Promise<boolean> {
  for (const split of ['train', 'val'] as const) {
    for await (const doc of readDocs(outDir, entry, split))
      if (dedup.check(doc.text, entry.name, near).duplicate) return false;
  }
  return true;
}

async function buildOne(
  src: DocSource,
  settings: string,
  dedup: Deduplicator,
  o: BuildDocsOptions,
  log: Log,
): Promise<SourceManifest> {
  const clean = { ...defaultCleanOptions, ...src.clean };
  const near = src.nearDedup ?? true;
  const files: Record<Split, string> = { train: `${src.name}.train.jsonl`, val: `${src.name}.val.jsonl` };
  const writers = {
    train: new BufferedWriter(path.join(o.outDir, files.train)),
    val: new BufferedWriter(path.join(o.outDir, files.val)),
  };
  const entry: SourceManifest = {
    name: src.name,
    bucket: src.bucket,
    license: src.license,
    origin: src.origin,
    description: src.description,
    tags: src.tags ?? [],
    fingerprint: src.fingerprint,
    settings,
    files,
    train: { docs: 0, bytes: 0, sha256: '' },
    val: { docs: 0, bytes: 0, sha256: '' },
    raw: { docs: 0, bytes: 0 },
    dropped: { short: 0, symbols: 0, mojibake: 0, exactDup: 0, nearDup: 0 },
    duplicatesOf: {},
    builtAt: new Date().toISOString(),
  };
  const router = new SplitRouter<DocRecord>(src.valFraction ?? defaultValFraction, (split, doc) => {
    writers[split].write(JSON.stringify(doc) + '\n');
    entry[split].docs++;
    entry[split].bytes += Buffer.byteLength(doc.text);
  });
  const progress = new Progress(src.name, log, src.expectedBytes);
  try {
    let ordinal = 0;
    for await (const raw of src.docs(log)) {
      if (o.signal?.aborted)
        throw new InterruptedError(
          `interrupted while building ${src.name}; run the same command again to resume`,
        );
      const bytes = Buffer.byteLength(raw.text);
      entry.raw.docs++;
      entry.raw.bytes += bytes;
      const id = raw.id ?? String(ordinal);
      ordinal++;
      const r = cleanDocument(raw.text, clean);
      if (!r.ok) entry.dropped[r.reason]++;
      else {
        r.pieces.forEach((text, k) => {
          const v = dedup.check(text, src.name, near);
          if (v.duplicate) {
            entry.dropped[v.kind === 'exact' ? 'exactDup' : 'nearDup']++;
            entry.duplicatesOf[v.of] = (entry.duplicatesOf[v.of] ?? 0) + 1;
            return;
          }
          const doc: DocRecord = { id: r.pieces.length > 1 ? `${id}#${k}` : id, text };
          if (raw.meta) doc.meta = raw.meta;
          router.push(text, doc);
        });
      }
      progress.tick(bytes, () => `${entry.train.docs + entry.val.docs} docs kept`);
    }
    router.finish();
    entry.train.sha256 = writers.train.commit();
    entry.val.sha256 = writers.val.commit();
  } catch (e) {
    writers.train.abort();
    writers.val.abort();
    throw e;
  }
  progress.done(
    `${entry.train.docs} train + ${entry.val.docs} val docs, ${entry.dropped.exactDup + entry.dropped.nearDup} duplicates dropped`,
  );
  return entry;
}

/** Build (or bring up to date) every source in `sources`, in order; returns the manifest. */
export async function buildDocuments(sources: DocSource[], o: BuildDocsOptions): Promise<DocsManifest> {
  const log = o.log ?? silent;
  fs.mkdirSync(o.outDir, { recursive: true });
  const manifest = readManifest(o.outDir) ?? emptyManifest();
  const dedup = new Deduplicator(o.dedup);
  const names = new Set<string>();
  let dirty = !!o.force;
  for (const src of sources) {
    if (names.has(src.name)) throw new DataError(`two sources are named "${src.name}"; names must be unique`);
    names.add(src.name);
    const settings = settingsOf(src, o.dedup ?? {});
    const entry = manifest.sources[src.name];
    const near = src.nearDedup ?? true;
    if (!dirty && isCurrent(entry, src, settings, o.outDir)) {
      if (await replay(o.outDir, entry, dedup, near)) {
        log(`[${src.name}] up to date (${entry.train.docs} train + ${entry.val.docs} val docs)`);
        continue;
      }
      throw new DataError(
        `${o.outDir}: ${src.name}'s documents no longer dedup against the sources before it; run again with --force`,
      );
    }
    dirty = true;
    manifest.sources[src.name] = await buildOne(src, settings, dedup, o, log);
    // Build order first (it is the dedup priority), then sources of earlier builds not in this list.
    const current = sources.map((s) => s.name).filter((n) => manifest.sources[n]);
    manifest.order = [
      ...current,
      ...manifest.order.filter(
        (n) => !current.includes(n) && !names.has(n) && !sources.some((s) => s.name === n),
      ),
    ];
    writeManifest(o.outDir, manifest);
  }
  return manifest;
}
