/**
 * Safetensors checkpoints (one file or an index with shards) read from Blobs inside a Worker, tensor by
 * tensor with FileReaderSync: a Blob from the Cache API or a picked file stays on disk, so a model
 * larger than any one ArrayBuffer loads shard by shard and is never held twice in memory.
 */
import { byteSize, isDType, isValidShape, type TensorRecord } from '../../src/io/dtypes.js';
import type { TensorInfo, TensorReader } from '../../src/io/tensor-source.js';

interface SyncReader {
  readAsArrayBuffer(b: Blob): ArrayBuffer;
}
const syncReader = (): SyncReader => {
  const C = (globalThis as unknown as { FileReaderSync?: new () => SyncReader }).FileReaderSync;
  if (!C) throw new Error('FileReaderSync is missing: checkpoints are read inside a Web Worker');
  return new C();
};

/**
 * Fills `into` with the bytes of `blob` from `start`, in pieces of at most 256 MiB: one ArrayBuffer per
 * read, never the whole file.
 */
export function readBlobSync(blob: Blob, start: number, into: Uint8Array): void {
  for (let at = 0; at < into.byteLength; at += 2 ** 28) {
    const n = Math.min(2 ** 28, into.byteLength - at);
    into.set(new Uint8Array(syncReader().readAsArrayBuffer(blob.slice(start + at, start + at + n))), at);
  }
}

/** A malformed or mismatched checkpoint file (the message names the file and what is wrong). */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

interface Entry extends TensorInfo {
  blob: Blob;
  start: number;
}

/** Parses one safetensors file's header into entries pointing into its blob. */
function parseSafetensors(file: string, blob: Blob, into: Map<string, Entry>): void {
  const r = syncReader();
  const bad = (m: string) => new CheckpointError(`${file} is not a valid safetensors file: ${m}`);
  if (blob.size < 8) throw bad(`it is ${blob.size} bytes long`);
  const len = Number(new DataView(r.readAsArrayBuffer(blob.slice(0, 8))).getBigUint64(0, true));
  if (len > 100 * 2 ** 20 || 8 + len > blob.size)
    throw bad(`header length ${len} does not fit (truncated download?)`);
  let json: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
  try {
    json = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(r.readAsArrayBuffer(blob.slice(8, 8 + len))),
    ) as typeof json;
  } catch {
    throw bad('the header is not UTF-8 JSON');
  }
  const dataStart = 8 + len;
  for (const [name, t] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    if (!isDType(t?.dtype) || !isValidShape(t.shape)) throw bad(`tensor '${name}' has a bad dtype or shape`);
    const off = t.data_offsets as [number, number];
    const byteLength = byteSize(t.dtype, t.shape);
    if (!Array.isArray(off) || off[1] - off[0] !== byteLength || dataStart + off[1] > blob.size)
      throw bad(
        `tensor '${name}' has data_offsets ${JSON.stringify(off)} outside the file or of the wrong size`,
      );
    into.set(name, {
      name,
      dtype: t.dtype,
      shape: t.shape,
      byteLength,
      blob,
      start: dataStart + off[0],
    });
  }
}

export class BlobCheckpoint implements TensorReader {
  private readonly entries = new Map<string, Entry>();

  /** shards: file name → blob, every safetensors file of the checkpoint. */
  constructor(
    readonly path: string,
    shards: Map<string, Blob>,
    private readonly onRead: (bytes: number) => void = () => {},
  ) {
    for (const [file, blob] of shards) parseSafetensors(file, blob, this.entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
  has(name: string): boolean {
    return this.entries.has(name);
  }
  info(name: string): TensorInfo {
    const { dtype, shape, byteLength } = this.entry(name);
    return { name, dtype, shape: [...shape], byteLength };
  }
  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.path} has no tensor '${name}'`);
    return e;
  }
  readSync(name: string): TensorRecord {
    const e = this.entry(name);
    const data = new Uint8Array(e.byteLength);
    this.readIntoSync(name, data);
    return { name, dtype: e.dtype, shape: [...e.shape], data };
  }
  read(name: string): Promise<TensorRecord> {
    return Promise.resolve(this.readSync(name));
  }
  readIntoSync(name: string, into: Uint8Array): void {
    const e = this.entry(name);
    if (into.byteLength !== e.byteLength)
      throw new RangeError(
        `${this.path}: tensor '${name}' has ${e.byteLength} bytes, the destination ${into.byteLength}`,
      );
    readBlobSync(e.blob, e.start, into);
    this.onRead(e.byteLength);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
