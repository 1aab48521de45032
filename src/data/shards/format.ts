/**
 * The tokenized shard folder: `index.json` plus `shards/<source>/<split>-NNNNN.bin`, each a flat array of
 * little-endian token ids (uint16 when the vocabulary fits, else uint32) in which every document is
 * stored as BOS + tokens + EOS, back to back. The index counts documents and tokens per source and split
 * and remembers the tokenizer, so a folder is never silently mixed with another vocabulary.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ShardError } from '../errors.js';
import { readJson, writeJson } from '../fs-util.js';
import type { Split } from '../split.js';
import type { TextEncoder } from '../types.js';

export type TokenDtype = 'uint16' | 'uint32';

export interface ShardFile {
  /** Relative to the shard folder. */
  file: string;
  tokens: number;
  docs: number;
}

export interface SplitShards {
  docs: number;
  tokens: number;
  /** UTF-8 bytes of the texts (bytes per token = compression). */
  textBytes: number;
  shards: ShardFile[];
}

export interface ShardSource {
  name: string;
  bucket: string;
  license: string;
  origin: string;
  tags: string[];
  /** Identifies the documents that were tokenized; a rebuilt source is tokenized again. */
  docsFingerprint: string;
  train: SplitShards;
  val: SplitShards;
}

export interface MixtureRecord {
  phase: string;
  weights: Record<string, number>;
  tokens?: number;
  description?: string;
}

export interface ShardIndex {
  format: 'minicpm-shards';
  version: 1;
  dtype: TokenDtype;
  endian: 'little';
  vocabSize: number;
  bosId: number;
  eosId: number;
  tokenizer: { path: string; fingerprint: string };
  shardTokens: number;
  sources: Record<string, ShardSource>;
  mixtures: Record<string, MixtureRecord>;
}

export const INDEX = 'index.json';

export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 0x10000 ? 'uint16' : 'uint32';
}

export function bytesPer(dtype: TokenDtype): number {
  return dtype === 'uint16' ? 2 : 4;
}

const PROBE = 'Hello, world! 你好，世界。床前明月光\n\tfunction f(x) { return x ** 2; }';

/** Identifies a tokenizer by behaviour (ids of a probe text), whatever file it was loaded from. */
export function tokenizerFingerprint(enc: TextEncoder): string {
  const probe = JSON.stringify([enc.vocabSize, enc.bosId, enc.eosId, enc.encode(PROBE)]);
  return crypto.createHash('sha256').update(probe).digest('hex').slice(0, 16);
}

export function shardPath(dir: string, source: string, split: Split, n: number): string {
  return path.join('shards', source, `${split}-${String(n).padStart(5, '0')}.bin`);
}

export function readShardIndex(dir: string): ShardIndex {
  const file = path.join(dir, INDEX);
  if (!fs.existsSync(file))
    throw new ShardError(
      `${dir} has no ${INDEX}: prepare it with \`minicpm data prepare --mixture NAME --tokenizer PATH --output ${dir}\``,
    );
  let idx: ShardIndex;
  try {
    idx = readJson<ShardIndex>(file);
  } catch (e) {
    throw new ShardError(`${file} is not valid JSON (${(e as Error).message}); run data prepare again`);
  }
  if (idx.format !== 'minicpm-shards' || idx.version !== 1)
    throw new ShardError(
      `${file} is not a minicpm shard index (format ${String(idx.format)} v${String(idx.version)})`,
    );
  return idx;
}

export function writeShardIndex(dir: string, idx: ShardIndex): void {
  writeJson(path.join(dir, INDEX), idx);
}

/** Token ids of one whole shard (for tests and inspection; the loader reads windows instead). */
export function readShard(dir: string, idx: ShardIndex, shard: ShardFile): Uint16Array | Uint32Array {
  const buf = fs.readFileSync(path.join(dir, shard.file));
  const expected = shard.tokens * bytesPer(idx.dtype);
  if (buf.length !== expected)
    throw new ShardError(
      `${shard.file} has ${buf.length} bytes, the index says ${expected}; the shard is truncated or corrupt: run data prepare again`,
    );
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return idx.dtype === 'uint16' ? new Uint16Array(ab) : new Uint32Array(ab);
}

/**
 * UTF-8 bytes per token of a split over the given sources (default: all), for bits-per-byte.
 * Token counts include each document's BOS/EOS, as the loss does.
 */
export function bytesPerToken(idx: ShardIndex, split: 'train' | 'val', sources?: string[]): number {
  let bytes = 0;
  let tokens = 0;
  for (const s of Object.values(idx.sources)) {
    if (sources && !sources.includes(s.name)) continue;
    bytes += s[split].textBytes;
    tokens += s[split].tokens;
  }
  return tokens ? bytes / tokens : 0;
}
