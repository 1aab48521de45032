/** The manifest of a folder of built sources (`<name>.train.jsonl`, `<name>.val.jsonl`, `manifest.json`). */
import fs from 'node:fs';
import path from 'node:path';
import { CorpusError } from './errors.js';
import { readJson, readLines, writeJson } from './fs-util.js';
import type { DocRecord } from './types.js';
import type { Split } from './split.js';

export interface SplitCounts {
  docs: number;
  /** UTF-8 bytes of the texts. */
  bytes: number;
}

export interface SplitFile extends SplitCounts {
  /** SHA-256 of the JSONL file: what the tokenized shards were made from. */
  sha256: string;
}

export interface SourceManifest {
  name: string;
  /** Language/kind bucket: en, zh, zh-classical, code, instruct, or the user's own label. */
  bucket: string;
  license: string;
  /** Where the text came from: `npm:pkg@version` or a local path. */
  origin: string;
  description?: string;
  /** `hq` (curated, for the decay phase), `instruct` (instruction format). */
  tags: string[];
  /** Changes whenever the extraction or the input changes; a mismatch triggers a rebuild. */
  fingerprint: string;
  /** Cleaning, dedup and split settings the source was built with. */
  settings: string;
  files: Record<Split, string>;
  train: SplitFile;
  val: SplitFile;
  raw: SplitCounts;
  dropped: { short: number; symbols: number; mojibake: number; exactDup: number; nearDup: number };
  /** Duplicates dropped here, by the source that kept the first copy (this source itself = within-source). */
  duplicatesOf: Record<string, number>;
  builtAt: string;
}

export interface DocsManifest {
  format: 'minicpm-docs';
  version: 1;
  /** Sources in build order (the dedup priority order). */
  order: string[];
  sources: Record<string, SourceManifest>;
}

export const MANIFEST = 'manifest.json';

export function emptyManifest(): DocsManifest {
  return { format: 'minicpm-docs', version: 1, order: [], sources: {} };
}

export function readManifest(dir: string): DocsManifest | undefined {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return undefined;
  const m = readJson<DocsManifest>(file);
  if (m.format !== 'minicpm-docs')
    throw new CorpusError(
      `${file} is not a documents manifest (format "${String(m.format)}"); point to a folder made by \`minicpm data corpus\``,
    );
  return m;
}

export function writeManifest(dir: string, m: DocsManifest): void {
  writeJson(path.join(dir, MANIFEST), m);
}

/** The documents of one built source and split, streamed in file order. */
export async function* readDocs(
  dir: string,
  source: SourceManifest,
  split: Split,
): AsyncGenerator<DocRecord> {
  const file = path.join(dir, source.files[split]);
  if (!fs.existsSync(file))
    throw new CorpusError(
      `${file} is missing; rebuild the source (\`minicpm data corpus\` or \`data prepare\`)`,
    );
  for await (const line of readLines(file)) if (line) yield JSON.parse(line) as DocRecord;
}
