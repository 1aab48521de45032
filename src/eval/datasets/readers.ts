/**
 * Reading benchmark files synchronously (they are a few MB at most): text (plain, .gz, .bz2), JSON, JSON
 * Lines and CSV. Every row carries the `file:line` it starts on, so a loader can say where a bad row is.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { CsvError, parse } from 'csv-parse/sync';
import Bunzip from 'seek-bzip';
import { EvalError } from '../errors.js';

/** A parsed row and where it came from (`file:line`, 1-based). */
export interface Located<T> {
  value: T;
  where: string;
}

/** A file as UTF-8 text, decompressed by its extension. */
export function readText(file: string): string {
  const raw = fs.readFileSync(file);
  try {
    if (file.endsWith('.gz')) return zlib.gunzipSync(raw).toString('utf8');
    // Node's zlib has no bzip2; seek-bzip is a small pure-JS decoder with a synchronous API.
    if (file.endsWith('.bz2')) return Bunzip.decode(raw, undefined, true).toString('utf8');
  } catch (e) {
    throw new EvalError(
      `${file} cannot be decompressed (${errorText(e)}): the copy is damaged, copy it again`,
    );
  }
  return raw.toString('utf8');
}

/** The lines of a text file, without line ends; the empty piece after a final newline is dropped. */
export function readLines(file: string): string[] {
  const lines = readText(file).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export function readJson(file: string): unknown {
  try {
    return JSON.parse(readText(file));
  } catch (e) {
    if (e instanceof EvalError) throw e;
    throw new EvalError(`${file}: not valid JSON (${errorText(e)})`);
  }
}

/** One JSON value per line; a blank line is an error too, since it usually means a truncated or spliced copy. */
export function readJsonl(file: string): Located<unknown>[] {
  return readLines(file).map((line, i) => {
    const where = `${file}:${i + 1}`;
    if (line.trim() === '') throw new EvalError(`${where}: blank line in a JSON Lines file`);
    try {
      return { value: JSON.parse(line) as unknown, where };
    } catch (e) {
      throw new EvalError(`${where}: not valid JSON (${errorText(e)})`);
    }
  });
}

/** A CSV file: its first record as the header, then the records; quoted fields may span lines. */
export function readCsv(file: string): { header: string[]; rows: Located<string[]>[] } {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // `info: true` wraps each record with the parser's line count; the sync typings do not model it.
    records = parse(readText(file), { info: true, bom: true }) as unknown as typeof records;
  } catch (e) {
    if (e instanceof EvalError) throw e;
    const line = e instanceof CsvError && typeof e.lines === 'number' ? `:${e.lines}` : '';
    throw new EvalError(`${file}${line}: malformed CSV (${errorText(e)})`);
  }
  if (records.length === 0) throw new EvalError(`${file}: empty CSV file, expected a header row`);
  // info.lines is where a record ends; it starts on the line after the previous one ends.
  const rows = records
    .slice(1)
    .map((r, i) => ({ value: r.record, where: `${file}:${records[i].info.lines + 1}` }));
  return { header: records[0].record, rows };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
