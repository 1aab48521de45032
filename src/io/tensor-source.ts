// The common shape of "a checkpoint you can read tensor by tensor" and "tensors you can write",
// so that safetensors, pytorch_model.bin and sharded folders are interchangeable to callers.

import { byteSize, isDType, isValidShape, type DType, type TensorRecord } from './dtypes.js';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  byteLength: number;
}

/** A checkpoint opened for lazy reading: only the tensors you ask for are read, one at a time. */
export interface TensorReader {
  readonly path: string;
  /** Tensor names in file order. */
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  read(name: string): Promise<TensorRecord>;
  readSync(name: string): TensorRecord;
  /** Reads the tensor's raw bytes (its stored dtype) into `into`, which must be exactly info().byteLength long. */
  readIntoSync(name: string, into: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * A tensor whose bytes are produced on demand: writers take these so that converting a checkpoint
 * holds one tensor in memory at a time, never the whole model.
 */
export interface LazyTensor {
  name: string;
  dtype: DType;
  shape: number[];
  load(): Promise<Uint8Array> | Uint8Array;
}

export type TensorSource = TensorRecord | LazyTensor;

export function isLazy(t: TensorSource): t is LazyTensor {
  return typeof (t as LazyTensor).load === 'function';
}

/** Every tensor of `reader` as a LazyTensor (for writing to another format without loading it all). */
export function lazyTensors(reader: TensorReader, names: string[] = reader.names()): LazyTensor[] {
  return names.map((name) => {
    const { dtype, shape } = reader.info(name);
    return { name, dtype, shape, load: async () => (await reader.read(name)).data };
  });
}

/** The bytes of a source, checked against its dtype and shape. */
export async function sourceBytes(t: TensorSource): Promise<Uint8Array> {
  const data = isLazy(t) ? await t.load() : t.data;
  const want = byteSize(t.dtype, t.shape);
  if (data.byteLength !== want) {
    throw new RangeError(
      `tensor '${t.name}': ${t.dtype} [${t.shape.join(', ')}] needs ${want} bytes but its data has ${data.byteLength}`,
    );
  }
  return data;
}

/** Reject a malformed source before anything is written, so a bad call never leaves half a file. */
export function checkSource(t: TensorSource): void {
  if (typeof t.name !== 'string' || t.name.length === 0)
    throw new TypeError('tensor name must be a non-empty string');
  if (!isDType(t.dtype)) throw new TypeError(`tensor '${t.name}': unknown dtype ${String(t.dtype)}`);
  if (!isValidShape(t.shape))
    throw new TypeError(`tensor '${t.name}': invalid shape ${JSON.stringify(t.shape)}`);
  if (!isLazy(t) && !(t.data instanceof Uint8Array))
    throw new TypeError(`tensor '${t.name}': data must be a Uint8Array`);
}

/** The byte-length check every readIntoSync makes before touching the file. */
export function checkInto(path: string, info: TensorInfo, into: Uint8Array): void {
  if (into.byteLength !== info.byteLength) {
    throw new RangeError(
      `${path}: tensor '${info.name}' has ${info.byteLength} bytes but the destination holds ${into.byteLength}`,
    );
  }
}

/** Read every tensor of a reader, one at a time, in file order. */
export async function* iterateReader(reader: TensorReader): AsyncGenerator<TensorRecord> {
  for (const name of reader.names()) yield await reader.read(name);
}
