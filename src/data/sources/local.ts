/**
 * The user's own data as documents: text files and folders (one document per file), JSONL with a text
 * field (one per line, .gz accepted), and Parquet with a text column (read one row group at a time so a
 * large file never sits in memory whole).
 */
import fs from 'node:fs';
import path from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { decodeBytes, looksBinary } from '../decode.js';
import { SourceError } from '../errors.js';
import { listFiles, readLines } from '../fs-util.js';
import type { Log, RawDoc } from '../types.js';

export type LocalSourceType = 'text' | 'jsonl' | 'parquet';

export interface LocalSourceSpec {
  type: LocalSourceType;
  /** A file or a folder (walked recursively, in sorted order, skipping hidden folders and node_modules). */
  path: string;
  /** JSONL/Parquet: the field holding the text; dotted paths reach into objects (default "text"). */
  field?: string;
  /** Text folders: file extensions to read (default: common prose, markup and source-code extensions). */
  extensions?: string[];
}

export const defaultTextExtensions = [
  '.txt',
  '.text',
  '.md',
  '.markdown',
  '.rst',
  '.org',
  '.tex',
  '.html',
  '.htm',
  '.ts',
  '.tsx',
  '.js',
  '.jsx',
  '.mjs',
  '.cjs',
  '.py',
  '.c',
  '.h',
  '.cc',
  '.cpp',
  '.hpp',
  '.rs',
  '.go',
  '.java',
  '.kt',
  '.swift',
  '.rb',
  '.php',
  '.cs',
  '.sh',
  '.sql',
  '.json',
  '.yaml',
  '.yml',
  '.toml',
];

function requirePath(p: string): void {
  if (!fs.existsSync(p))
    throw new SourceError(p, 'no such file or folder; check the "path" of this source in the mixture');
}

function hasExtension(file: string, exts: string[]): boolean {
  const lower = file.toLowerCase();
  return exts.some((e) => lower.endsWith(e));
}

function* textFiles(spec: LocalSourceSpec, root: string, log: Log): Generator<RawDoc> {
  const exts = spec.extensions ?? defaultTextExtensions;
  const files = listFiles(root, (f) => hasExtension(f, exts));
  if (!files.length)
    throw new SourceError(root, `no files with extensions ${exts.join(' ')}; set "extensions" in the source`);
  for (const file of files) {
    const bytes = fs.readFileSync(file);
    if (looksBinary(bytes)) {
      log(`skipping binary file ${file}`);
      continue;
    }
    const { text } = decodeBytes(bytes);
    yield { id: path.relative(root, file) || path.basename(file), text };
  }
}

/** Read a dotted field ("text", "meta.body") of a record; undefined when absent or not a string. */
export function getField(record: unknown, field: string): string | undefined {
  let v: unknown = record;
  for (const part of field.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === 'string' ? v : undefined;
}

async function* jsonlFiles(spec: LocalSourceSpec, root: string, log: Log): AsyncGenerator<RawDoc> {
  const field = spec.field ?? 'text';
  const files = listFiles(root, (f) => /\.(jsonl|ndjson)(\.gz)?$/i.test(f));
  if (!files.length) throw new SourceError(root, 'no .jsonl/.ndjson(.gz) files found');
  for (const file of files) {
    let line = 0;
    let missing = 0;
    for await (const raw of readLines(file)) {
      line++;
      if (!raw.trim()) continue;
      let record: unknown;
      try {
        record = JSON.parse(raw);
      } catch {
        // A truncated last line is common in dumps; anything else is worth a look, so say where.
        log(`${file}:${line}: not valid JSON, skipped`);
        continue;
      }
      const text = getField(record, field);
      if (text === undefined) {
        if (missing++ === 0)
          log(
            `${file}:${line}: no string field "${field}" (set "field" in the source); such lines are skipped`,
          );
        continue;
      }
      yield { id: `${path.relative(root, file) || path.basename(file)}:${line}`, text };
    }
  }
}

async function* parquetFiles(spec: LocalSourceSpec, root: string): AsyncGenerator<RawDoc> {
  const field = spec.field ?? 'text';
  const column = field.split('.')[0];
  const files = listFiles(root, (f) => f.toLowerCase().endsWith('.parquet'));
  if (!files.length) throw new SourceError(root, 'no .parquet files found');
  for (const file of files) {
    const buffer = await asyncBufferFromFile(file);
    let metadata;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw new SourceError(file, `not a readable Parquet file (${(e as Error).message})`);
    }
    const columns = parquetSchema(metadata).children.map((c) => c.element.name);
    if (!columns.includes(column))
      throw new SourceError(
        file,
        `no column "${column}"; columns are ${columns.join(', ')}; set "field" in the source`,
      );
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      const rows = await parquetReadObjects({
        file: buffer,
        metadata,
        columns: [column],
        rowStart,
        rowEnd,
        compressors,
      });
      for (let i = 0; i < rows.length; i++) {
        const text = getField(rows[i], field);
        if (text !== undefined)
          yield { id: `${path.relative(root, file) || path.basename(file)}:${rowStart + i}`, text };
      }
      rowStart = rowEnd;
    }
  }
}

/** Documents of a local source, in a deterministic order. */
export function openLocalSource(spec: LocalSourceSpec, log: Log): Iterable<RawDoc> | AsyncIterable<RawDoc> {
  requirePath(spec.path);
  switch (spec.type) {
    case 'text':
      return textFiles(spec, spec.path, log);
    case 'jsonl':
      return jsonlFiles(spec, spec.path, log);
    case 'parquet':
      return parquetFiles(spec, spec.path);
    default:
      throw new SourceError(
        spec.path,
        `unknown source type "${String(spec.type)}"; use text, jsonl or parquet`,
      );
  }
}

/** Total size in bytes of the files a source will read (for progress and fingerprints). */
export function localSourceFiles(spec: LocalSourceSpec): { files: string[]; bytes: number; mtime: number } {
  requirePath(spec.path);
  const accept =
    spec.type === 'text'
      ? (f: string) => hasExtension(f, spec.extensions ?? defaultTextExtensions)
      : spec.type === 'jsonl'
        ? (f: string) => /\.(jsonl|ndjson)(\.gz)?$/i.test(f)
        : (f: string) => f.toLowerCase().endsWith('.parquet');
  const files = listFiles(spec.path, accept);
  let bytes = 0;
  let mtime = 0;
  for (const f of files) {
    const st = fs.statSync(f);
    bytes += st.size;
    mtime = Math.max(mtime, st.mtimeMs);
  }
  return { files, bytes, mtime };
}
