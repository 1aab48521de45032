// Sharded checkpoints: `<prefix>.safetensors.index.json` (or `pytorch_model.bin.index.json`) maps each
// tensor name to a shard file: {"metadata": {"total_size": N}, "weight_map": {name: file}}.

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { byteSize, type TensorRecord } from './dtypes.js';
import { CheckpointFormatError, TensorNotFoundError } from './errors.js';
import { atomicWriteText } from './file-io.js';
import { writeSafetensors } from './safetensors.js';
import { checkSource, type TensorInfo, type TensorReader, type TensorSource } from './tensor-source.js';

export interface ShardIndex {
  metadata: Record<string, unknown>;
  weightMap: Map<string, string>;
}

export async function readShardIndex(indexPath: string): Promise<ShardIndex> {
  let json: unknown;
  try {
    json = JSON.parse(await fsp.readFile(indexPath, 'utf8'));
  } catch (e) {
    throw new CheckpointFormatError(
      indexPath,
      `cannot read the shard index as JSON (${(e as Error).message})`,
    );
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
    throw new CheckpointFormatError(indexPath, 'the shard index has no "weight_map" object');
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    // A shard path must stay inside the folder: an index must not make us open arbitrary files.
    if (
      typeof file !== 'string' ||
      file.includes('/') ||
      file.includes('\\') ||
      file === '..' ||
      file === '.'
    ) {
      throw new CheckpointFormatError(
        indexPath,
        `weight_map entry '${name}' points to an invalid shard ${JSON.stringify(file)}`,
      );
    }
    weightMap.set(name, file);
  }
  const md = (json as { metadata?: unknown }).metadata;
  return { metadata: md && typeof md === 'object' ? (md as Record<string, unknown>) : {}, weightMap };
}

/** One reader over all shards of an index; shard headers are opened (and checked) up front. */
export class ShardedReader implements TensorReader {
  private constructor(
    readonly path: string,
    readonly index: ShardIndex,
    private readonly shards: Map<string, TensorReader>,
    private readonly order: string[],
  ) {}

  static async open(
    indexPath: string,
    openShard: (file: string) => Promise<TensorReader>,
  ): Promise<ShardedReader> {
    const index = await readShardIndex(indexPath);
    const dir = path.dirname(indexPath);
    const shards = new Map<string, TensorReader>();
    try {
      for (const file of new Set(index.weightMap.values())) {
        const full = path.join(dir, file);
        // a shard name such as '' or '..' would open a folder, not a file
        const isFile = await fsp.stat(full).then(
          (st) => st.isFile(),
          () => false,
        );
        if (!isFile)
          throw new CheckpointFormatError(
            indexPath,
            `the index lists shard '${file}', which is missing from ${dir}`,
          );
        shards.set(file, await openShard(full));
      }
      const order: string[] = [];
      for (const [file, reader] of shards) {
        const listed = new Set(reader.names());
        for (const [name, f] of index.weightMap) {
          if (f === file && !listed.has(name)) {
            throw new CheckpointFormatError(
              indexPath,
              `the index puts '${name}' in '${file}', but that shard does not contain it`,
            );
          }
        }
        // File order within each shard, shards in index order; tensors the index does not list are skipped.
        for (const name of reader.names()) if (index.weightMap.get(name) === file) order.push(name);
      }
      return new ShardedReader(indexPath, index, shards, order);
    } catch (e) {
      for (const r of shards.values()) await r.close();
      throw e;
    }
  }

  names(): string[] {
    return [...this.order];
  }

  has(name: string): boolean {
    return this.index.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }

  read(name: string): Promise<TensorRecord> {
    return this.shard(name).read(name);
  }

  readSync(name: string): TensorRecord {
    return this.shard(name).readSync(name);
  }

  readIntoSync(name: string, into: Uint8Array): void {
    this.shard(name).readIntoSync(name, into);
  }

  async close(): Promise<void> {
    for (const r of this.shards.values()) await r.close();
  }

  /** The shard file that holds `name`. */
  shardOf(name: string): string {
    const file = this.index.weightMap.get(name);
    if (file === undefined) throw new TensorNotFoundError(this.path, name, this.order);
    return file;
  }

  private shard(name: string): TensorReader {
    return this.shards.get(this.shardOf(name))!;
  }
}

export interface ShardedWriteOptions {
  /** Maximum bytes of tensor data per shard (Hugging Face's default is 5 GB); a bigger tensor gets its own shard. */
  maxShardBytes: number;
  /** File name prefix: `model` gives model-00001-of-00002.safetensors and model.safetensors.index.json. */
  prefix?: string;
  metadata?: Record<string, string>;
}

/**
 * Write tensors as shards of at most `maxShardBytes`, filled greedily in order, plus the index. A single
 * shard is written as `<prefix>.safetensors` with no index, as Hugging Face does. Returns the file names.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: Iterable<TensorSource>,
  opts: ShardedWriteOptions,
): Promise<{ files: string[]; index?: string }> {
  const prefix = opts.prefix ?? 'model';
  if (!(opts.maxShardBytes > 0)) throw new RangeError('maxShardBytes must be positive');
  const all = [...tensors];
  all.forEach(checkSource);
  const groups: TensorSource[][] = [];
  let size = 0;
  for (const t of all) {
    const n = byteSize(t.dtype, t.shape);
    if (groups.length === 0 || (size + n > opts.maxShardBytes && size > 0)) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(t);
    size += n;
  }
  if (groups.length <= 1) {
    const file = `${prefix}.safetensors`;
    await writeSafetensors(path.join(dir, file), groups[0] ?? [], opts.metadata);
    return { files: [file] };
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const files = groups.map((_, i) => `${prefix}-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`);
  const weightMap = new Map<string, string>();
  let total = 0;
  for (let i = 0; i < groups.length; i++) {
    await writeSafetensors(path.join(dir, files[i]), groups[i], opts.metadata);
    for (const t of groups[i]) {
      weightMap.set(t.name, files[i]);
      total += byteSize(t.dtype, t.shape);
    }
  }
  const sorted = Object.fromEntries([...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const index = `${prefix}.safetensors.index.json`;
  // The index goes last: a reader never sees an index that points at shards not yet written.
  await atomicWriteText(
    path.join(dir, index),
    JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2) + '\n',
  );
  return { files, index };
}
