// Hugging Face checkpoint folders: config.json, generation_config.json, weights (model.safetensors,
// sharded safetensors with an index, or pytorch_model.bin, sharded or not) and tokenizer files.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { TensorRecord } from './dtypes.js';
import { CheckpointFormatError } from './errors.js';
import { atomicWriteText, fsyncDir, tempSibling } from './file-io.js';
import { PytorchBinFile } from './pytorch-bin.js';
import { SafetensorsFile } from './safetensors.js';
import { readShardIndex, ShardedReader, writeShardedSafetensors } from './sharded.js';
import { iterateReader, type TensorReader, type TensorSource } from './tensor-source.js';

export const TOKENIZER_FILES = [
  'tokenizer.model',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
] as const;

/** Hugging Face's default max_shard_size ("5GB", decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

export interface WeightsLayout {
  format: 'safetensors' | 'pytorch';
  /** Weight files, relative to the folder. */
  files: string[];
  /** The shard index file, when sharded. */
  index?: string;
}

const CANDIDATES: { file: string; format: WeightsLayout['format']; sharded: boolean }[] = [
  { file: 'model.safetensors.index.json', format: 'safetensors', sharded: true },
  { file: 'model.safetensors', format: 'safetensors', sharded: false },
  { file: 'pytorch_model.bin.index.json', format: 'pytorch', sharded: true },
  { file: 'pytorch_model.bin', format: 'pytorch', sharded: false },
];

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Which weights a folder has; safetensors is preferred over pytorch_model.bin, as transformers does. */
export async function findWeights(dir: string): Promise<WeightsLayout> {
  for (const c of CANDIDATES) {
    if (!(await exists(path.join(dir, c.file)))) continue;
    if (!c.sharded) return { format: c.format, files: [c.file] };
    const { weightMap } = await readShardIndex(path.join(dir, c.file));
    return { format: c.format, files: [...new Set(weightMap.values())], index: c.file };
  }
  let present: string[] = [];
  try {
    present = await fsp.readdir(dir);
  } catch {
    throw new CheckpointFormatError(dir, 'the checkpoint folder does not exist or cannot be read');
  }
  throw new CheckpointFormatError(
    dir,
    `no weights found: expected one of ${CANDIDATES.map((c) => c.file).join(', ')}; the folder has: ${present.join(', ') || '(nothing)'}`,
  );
}

/** One lazy reader over all of a folder's weights, whatever their format and sharding. */
export async function openWeights(dir: string): Promise<TensorReader> {
  const w = await findWeights(dir);
  const open = (file: string): Promise<TensorReader> =>
    w.format === 'safetensors' ? SafetensorsFile.open(file) : PytorchBinFile.open(file);
  if (w.index) return ShardedReader.open(path.join(dir, w.index), open);
  return open(path.join(dir, w.files[0]));
}

/** Every tensor of the folder, read one at a time. */
export async function* iterateTensors(dir: string): AsyncGenerator<TensorRecord> {
  const reader = await openWeights(dir);
  try {
    yield* iterateReader(reader);
  } finally {
    await reader.close();
  }
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new CheckpointFormatError(file, 'file is missing or unreadable');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointFormatError(file, `invalid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new CheckpointFormatError(file, 'expected a JSON object');
  return json as Record<string, unknown>;
}

export function readConfig(dir: string): Promise<Record<string, unknown>> {
  return readJson(path.join(dir, 'config.json'));
}

/** generation_config.json, or undefined when the folder has none (it is optional). */
export async function readGenerationConfig(dir: string): Promise<Record<string, unknown> | undefined> {
  const file = path.join(dir, 'generation_config.json');
  return (await exists(file)) ? readJson(file) : undefined;
}

export function writeJson(file: string, value: unknown): Promise<void> {
  return atomicWriteText(file, JSON.stringify(value, null, 2) + '\n');
}

/** Copy the tokenizer files present in `from` into `to`; returns the names copied. */
export async function copyTokenizerFiles(from: string, to: string): Promise<string[]> {
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(from, f);
    if (!(await exists(src))) continue;
    const dst = path.join(to, f);
    await fsp.copyFile(src, dst);
    const fd = fs.openSync(dst, 'r+');
    fs.fsyncSync(fd); // copyFile does not sync; the folder swap must not expose an empty file after a crash
    fs.closeSync(fd);
    copied.push(f);
  }
  return copied;
}

export interface SaveFolderOptions {
  config: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Tensors to write; LazyTensors (e.g. lazyTensors(reader)) keep one tensor in memory at a time. */
  tensors: Iterable<TensorSource>;
  /** A folder whose tokenizer files are copied in (may be `dir` itself). */
  tokenizerFrom?: string;
  maxShardBytes?: number;
  /** safetensors __metadata__; defaults to {format: "pt"} like transformers. */
  metadata?: Record<string, string>;
  /** More JSON files by name (e.g. quantize_config.json), written inside the same atomic swap. */
  extraJson?: Record<string, unknown>;
}

/**
 * Write a complete Hugging Face folder atomically: everything goes into a temp folder beside `dir`,
 * which replaces `dir` only once complete. Until then the previous folder is untouched; during the swap
 * it is first renamed aside (`.<name>.old-*`), so a crash there leaves it recoverable, never half-written.
 */
export async function saveFolder(dir: string, opts: SaveFolderOptions): Promise<void> {
  const target = path.resolve(dir);
  const tmp = tempSibling(target);
  await fsp.mkdir(tmp);
  try {
    await writeJson(path.join(tmp, 'config.json'), opts.config);
    if (opts.generationConfig)
      await writeJson(path.join(tmp, 'generation_config.json'), opts.generationConfig);
    for (const [name, value] of Object.entries(opts.extraJson ?? {})) {
      if (path.basename(name) !== name || !name.endsWith('.json'))
        throw new TypeError(`extraJson names must be plain *.json file names, got ${JSON.stringify(name)}`);
      await writeJson(path.join(tmp, name), value);
    }
    await writeShardedSafetensors(tmp, opts.tensors, {
      maxShardBytes: opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES,
      metadata: opts.metadata ?? { format: 'pt' },
    });
    if (opts.tokenizerFrom) await copyTokenizerFiles(opts.tokenizerFrom, tmp);
    await fsyncDir(tmp);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let old: string | undefined;
  if (await exists(target)) {
    old = tempSibling(target, 'old');
    await fsp.rename(target, old);
  }
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    if (old) await fsp.rename(old, target); // put the previous folder back
    throw e;
  }
  await fsyncDir(path.dirname(target));
  if (old) await fsp.rm(old, { recursive: true, force: true });
}
