/**
 * Mixtures: named source weights for one training phase. A mixture file looks like
 *
 *   { "name": "demo-decay", "phase": "decay", "tokens": 50000000,
 *     "sources": { "sotu": 0.1, "instruct": 0.05,
 *                  "my-notes": { "weight": 0.2, "type": "text", "path": "./notes" } } }
 *
 * A bare number names a built-in source (`minicpm data corpus`); an object with `type` and `path` is the
 * user's own data (relative paths are relative to the mixture file). Weights are relative sampling
 * probabilities; `tokens` (optional) is the phase's token budget, used to report epochs per source.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BUILTIN_SOURCES, INSTRUCT_SOURCE } from './corpus/catalog.js';
import { MixtureError } from './errors.js';
import { mixturesDir } from './paths.js';
import type { LocalSourceSpec } from './sources/local.js';

export interface MixtureSource {
  name: string;
  weight: number;
  /** Absent for built-in sources. */
  local?: LocalSourceSpec & { bucket?: string; license?: string; tags?: string[] };
}

export interface Mixture {
  name: string;
  phase: string;
  description?: string;
  /** Planned training tokens for this phase. */
  tokens?: number;
  sources: MixtureSource[];
}

export function builtinNames(): string[] {
  return [...BUILTIN_SOURCES.map((s) => s.name), INSTRUCT_SOURCE];
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/i;

/** Validate a parsed mixture file; `file` resolves relative paths and names the file in errors. */
export function parseMixture(json: unknown, file = '<mixture>'): Mixture {
  const fail = (msg: string): never => {
    throw new MixtureError(`${file}: ${msg}`);
  };
  if (!json || typeof json !== 'object' || Array.isArray(json))
    return fail('must be a JSON object with "name", "phase" and "sources"');
  const j = json as Record<string, unknown>;
  const name = j.name ?? path.basename(file, '.json');
  if (typeof name !== 'string' || !NAME.test(name))
    return fail(`"name" must be a simple name (letters, digits, . _ -), got ${JSON.stringify(name)}`);
  if (typeof j.phase !== 'string' || !j.phase)
    return fail('"phase" must be a string such as "stable" or "decay"');
  if (j.tokens !== undefined && !(typeof j.tokens === 'number' && j.tokens > 0))
    return fail('"tokens" must be a positive number of planned training tokens');
  if (!j.sources || typeof j.sources !== 'object' || Array.isArray(j.sources))
    return fail('"sources" must be an object mapping source names to weights');
  const known = builtinNames();
  const base = path.dirname(path.resolve(file));
  const sources: MixtureSource[] = [];
  for (const [src, v] of Object.entries(j.sources as Record<string, unknown>)) {
    if (!NAME.test(src)) fail(`source name ${JSON.stringify(src)} must use letters, digits, . _ -`);
    const entry =
      typeof v === 'number'
        ? { weight: v }
        : v && typeof v === 'object'
          ? (v as Record<string, unknown>)
          : fail(`source "${src}" must be a weight or an object`);
    const weight = entry.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
      fail(`source "${src}" needs a non-negative "weight"`);
    if (entry.path === undefined) {
      if (!known.includes(src))
        fail(
          `"${src}" is not a built-in source (${known.join(', ')}); for your own data give "type" and "path"`,
        );
      sources.push({ name: src, weight: weight as number });
      continue;
    }
    if (typeof entry.path !== 'string') fail(`source "${src}": "path" must be a string`);
    if (known.includes(src)) fail(`"${src}" is a built-in source name; give your own data another name`);
    const type = entry.type ?? 'text';
    if (type !== 'text' && type !== 'jsonl' && type !== 'parquet')
      fail(`source "${src}": "type" must be text, jsonl or parquet`);
    const str = (k: string): string | undefined => (typeof entry[k] === 'string' ? entry[k] : undefined);
    sources.push({
      name: src,
      weight: weight as number,
      local: {
        type: type as LocalSourceSpec['type'],
        path: path.resolve(base, entry.path as string),
        field: str('field'),
        extensions: Array.isArray(entry.extensions) ? (entry.extensions as string[]) : undefined,
        bucket: str('bucket'),
        license: str('license'),
        tags: Array.isArray(entry.tags) ? (entry.tags as string[]) : undefined,
      },
    });
  }
  if (!sources.some((s) => s.weight > 0)) fail('at least one source needs a positive weight');
  return {
    name,
    phase: j.phase,
    description: typeof j.description === 'string' ? j.description : undefined,
    tokens: j.tokens,
    sources,
  };
}

/** A mixture by file path, or by name from the package's `configs/mixtures/`. */
export function loadMixture(nameOrFile: string, dir = mixturesDir()): Mixture {
  const file =
    fs.existsSync(nameOrFile) && fs.statSync(nameOrFile).isFile()
      ? nameOrFile
      : path.join(dir, `${nameOrFile}.json`);
  if (!fs.existsSync(file)) {
    const names = fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.json'))
          .map((f) => f.slice(0, -5))
      : [];
    throw new MixtureError(
      `no mixture "${nameOrFile}": not a file, and not one of ${names.join(', ') || '(none)'} in ${dir}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MixtureError(`${file} is not valid JSON (${(e as Error).message})`);
  }
  return parseMixture(json, file);
}

export function mixtureWeights(m: Mixture): Record<string, number> {
  return Object.fromEntries(m.sources.map((s) => [s.name, s.weight]));
}

export interface EpochRow {
  source: string;
  weight: number;
  /** Normalized sampling share. */
  share: number;
  /** Training tokens the source has. */
  available: number;
  /** Tokens the phase will draw from it (share × budget). */
  planned?: number;
  /** planned / available: > 1 means the source is repeated. */
  epochs?: number;
}

/** How often each source is seen for a token budget: repetition made visible. */
export function epochReport(
  weights: Record<string, number>,
  available: Record<string, number>,
  budget?: number,
): EpochRow[] {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  return Object.entries(weights).map(([source, weight]) => {
    const share = total ? weight / total : 0;
    const have = available[source] ?? 0;
    const planned = budget === undefined ? undefined : share * budget;
    return {
      source,
      weight,
      share,
      available: have,
      planned,
      epochs: planned === undefined ? undefined : have ? planned / have : Infinity,
    };
  });
}

export function formatEpochReport(rows: EpochRow[], budget?: number): string {
  const head = `source               share   tokens      ${budget ? 'planned     epochs' : ''}`;
  const lines = [head];
  for (const r of rows) {
    const cells = [
      r.source.padEnd(20),
      `${(100 * r.share).toFixed(1)}%`.padStart(6),
      String(r.available).padStart(11),
    ];
    if (r.planned !== undefined)
      cells.push(
        String(Math.round(r.planned)).padStart(11),
        (r.epochs ?? 0).toFixed(2).padStart(7) + (r.epochs! > 4 ? '  ← repeated more than 4 epochs' : ''),
      );
    lines.push(cells.join('  '));
  }
  if (budget) lines.push(`budget ${budget} tokens`);
  return lines.join('\n');
}
