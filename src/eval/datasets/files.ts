/**
 * Where the benchmark files are and how a loader asks for one: every missing folder or file becomes an
 * EvalError that names the path and says how to make it appear.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../data/paths.js';
import { EvalError } from '../errors.js';

/** Environment variable that points at the benchmarks folder (the one holding mmlu/, gsm8k/, …). */
export const BENCHMARKS_ENV = 'MINICPM_BENCHMARKS';

/** `$MINICPM_BENCHMARKS`, else `../shared/data/benchmarks` next to the package root (the repo layout). */
export function defaultBenchmarksDir(): string {
  const fromEnv = process.env[BENCHMARKS_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  return path.resolve(packageRoot(), '..', 'shared', 'data', 'benchmarks');
}

const HOW_TO_FIX =
  `fetch them with \`minicpm eval --download TASKS --data DIR\` and pass --data DIR (or set ${BENCHMARKS_ENV} ` +
  `to that folder), or place them at ../shared/data/benchmarks beside the repository`;

/** `root/parts…`, which must be a folder. */
export function requireDir(root: string, ...parts: string[]): string {
  const dir = path.join(root, ...parts);
  if (!isDir(dir)) throw new EvalError(`benchmark folder not found: ${dir} (${HOW_TO_FIX})`);
  return dir;
}

/** `root/parts…`, which must be a file. */
export function requireFile(root: string, ...parts: string[]): string {
  const file = path.join(root, ...parts);
  if (!isFile(file)) throw new EvalError(`benchmark file not found: ${file} (${HOW_TO_FIX})`);
  return file;
}

/** Names in `dir` ending in `suffix`, sorted so subject order (and so ids and shot pools) is stable. */
export function listFiles(dir: string, suffix: string): string[] {
  const names = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(suffix) && isFile(path.join(dir, n)))
    .sort();
  if (names.length === 0)
    throw new EvalError(`${dir} holds no *${suffix} files: the benchmark copy is incomplete`);
  return names;
}

function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function isFile(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}
