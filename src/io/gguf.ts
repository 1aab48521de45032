// GGUF (llama.cpp's format), versions 2 and 3: magic, version, tensor and key counts, typed metadata,
// tensor infos, then the data section at the next multiple of `general.alignment` (default 32).
//
// Dimension order: GGUF lists dims fastest-varying first (ggml's ne[0] = number of columns). The bytes
// are the same as a row-major PyTorch tensor whose shape is the dims reversed, so a PyTorch Linear weight
// [out, in] is stored with dims [in, out]. GgufTensorInfo gives both: `dims` (file order) and `shape`.

import * as fs from 'node:fs';
import type { DType, TensorRecord } from './dtypes.js';
import { CheckpointFormatError, GgufKeyError, TensorNotFoundError } from './errors.js';
import { closeFd, promised, readAt, readAtSync } from './file-io.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPES,
  ggmlType,
  type GgufArray,
  type GgufArrayData,
  type GgufValue,
  type GgufValueType,
} from './gguf-types.js';

export * from './gguf-types.js';
export {
  writeGguf,
  type GgufTensorSource,
  type GgufRawTensor,
  type WriteGgufOptions,
} from './gguf-writer.js';

export interface GgufTensorInfo {
  name: string;
  /** Dimensions as stored in the file, fastest-varying first (ne[0] = columns). */
  dims: number[];
  /** Row-major (PyTorch) shape: `dims` reversed. */
  shape: number[];
  ggmlType: number;
  typeName: string;
  /** Elements and bytes per block of the ggml type (1 and the element size for plain types). */
  blockSize: number;
  typeSize: number;
  /** DType for plain types (F32, F16, BF16, F64, I8..I64); undefined for quantized types. */
  dtype?: DType;
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  byteSize: number;
}

const CHUNK = 4 << 20;

/**
 * Where a GGUF file's bytes come from: a file descriptor in Node (openGgufSync), or anything else with
 * positioned reads (a browser Blob read in a Worker, an ArrayBuffer) through GgufFile.fromSource.
 */
export interface GgufByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `position` (throws on a short read). */
  readSync(position: number, length: number): Uint8Array;
  read?(position: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

function fdSource(fd: number, path: string): GgufByteSource {
  return {
    size: fs.fstatSync(fd).size,
    readSync: (position, length) => readAtSync(fd, position, length, path),
    read: (position, length) => readAt(fd, position, length, path),
    close: () => closeFd(fd),
  };
}

/** Buffered little-endian reader over a file descriptor, for the variable-length header. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  private readonly dec = new TextDecoder('utf-8');

  constructor(
    private readonly src: GgufByteSource,
    readonly size: number,
    private readonly path: string,
  ) {}

  private ensure(n: number): number {
    const at = this.pos - this.bufStart;
    if (at + n <= this.buf.byteLength) return at;
    if (this.pos + n > this.size) {
      throw new CheckpointFormatError(
        this.path,
        `truncated GGUF header: needs byte ${this.pos + n}, file has ${this.size}`,
      );
    }
    const len = Math.min(Math.max(n, CHUNK), this.size - this.pos);
    this.buf = this.src.readSync(this.pos, len);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
    return 0;
  }

  u8(): number {
    const at = this.ensure(1);
    this.pos += 1;
    return this.view.getUint8(at);
  }
  u32(): number {
    const at = this.ensure(4);
    this.pos += 4;
    return this.view.getUint32(at, true);
  }
  /** A u64 that must not exceed `limit`: counts and lengths can never exceed the file size. */
  u64(limit = this.size): number {
    const at = this.ensure(8);
    this.pos += 8;
    const n = this.view.getBigUint64(at, true);
    if (n > BigInt(limit)) {
      throw new CheckpointFormatError(
        this.path,
        `GGUF count or size ${n} at byte ${this.pos - 8} exceeds ${limit === this.size ? 'the file size' : limit}`,
      );
    }
    return Number(n);
  }
  bytes(n: number): Uint8Array {
    const at = this.ensure(n);
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }
  string(): string {
    return this.dec.decode(this.bytes(this.u64()));
  }
  /** `n` items of `size` bytes as an aligned copy, for typed arrays. */
  block(n: number, size: number): ArrayBuffer {
    if (n * size > this.size - this.pos)
      throw new CheckpointFormatError(this.path, `GGUF array of ${n} items runs past the end of the file`);
    const b = this.bytes(n * size);
    return b.slice().buffer;
  }
}

export class GgufFile {
  private readonly byName: Map<string, GgufTensorInfo>;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly src: GgufByteSource,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: GgufTensorInfo[],
    readonly alignment: number,
    /** Absolute offset of the data section. */
    readonly dataOffset: number,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  static open(path: string): Promise<GgufFile> {
    return promised(() => GgufFile.openSync(path));
  }

  static openSync(path: string): GgufFile {
    const fd = fs.openSync(path, 'r');
    try {
      return GgufFile.fromSource(path, fdSource(fd, path));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Parses the header from any byte source; `path` names the file in errors. */
  static fromSource(path: string, src: GgufByteSource): GgufFile {
    const h = parse(path, src);
    return new GgufFile(path, src, h.version, h.metadata, h.tensors, h.alignment, h.dataOffset);
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  get(key: string): GgufValue {
    const v = this.metadata.get(key);
    if (!v)
      throw new GgufKeyError(
        this.path,
        key,
        `GGUF metadata has no key '${key}' (the file may be for another architecture or converter version)`,
      );
    return v;
  }

  getString(key: string): string {
    const v = this.get(key);
    if (v.type !== 'string') throw this.mistyped(key, v, 'a string');
    return v.value;
  }

  /** Any numeric key as a JS number (64-bit integers must be exact in a double). */
  getNumber(key: string): number {
    const v = this.get(key);
    if (v.type === 'uint64' || v.type === 'int64') {
      const n = Number(v.value);
      if (!Number.isSafeInteger(n)) throw this.mistyped(key, v, 'a number below 2^53');
      return n;
    }
    if (v.type === 'string' || v.type === 'bool' || v.type === 'array')
      throw this.mistyped(key, v, 'a number');
    return v.value as number;
  }

  getBool(key: string): boolean {
    const v = this.get(key);
    if (v.type !== 'bool') throw this.mistyped(key, v, 'a bool');
    return v.value;
  }

  getArray(key: string): GgufArrayData {
    const v = this.get(key);
    if (v.type !== 'array') throw this.mistyped(key, v, 'an array');
    return v.value;
  }

  getStringArray(key: string): string[] {
    const v = this.get(key);
    if (v.type !== 'array' || v.itemType !== 'string') throw this.mistyped(key, v, 'an array of strings');
    return v.value as string[];
  }

  tensor(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (!t)
      throw new TensorNotFoundError(
        this.path,
        name,
        this.tensors.map((x) => x.name),
      );
    return t;
  }

  /** A plain-typed tensor as a row-major record; quantized tensors must go through readRaw. */
  async readTensor(name: string): Promise<TensorRecord> {
    const t = this.denseInfo(name);
    return { name, dtype: t.dtype!, shape: [...t.shape], data: await this.readRaw(name) };
  }

  readTensorSync(name: string): TensorRecord {
    const t = this.denseInfo(name);
    return { name, dtype: t.dtype!, shape: [...t.shape], data: this.readRawSync(name) };
  }

  /** The tensor's bytes as stored (ggml blocks for quantized types). */
  readRaw(name: string): Promise<Uint8Array> {
    this.checkOpen();
    const t = this.tensor(name);
    return this.src.read
      ? this.src.read(t.offset, t.byteSize)
      : promised(() => this.src.readSync(t.offset, t.byteSize));
  }

  readRawSync(name: string): Uint8Array {
    this.checkOpen();
    const t = this.tensor(name);
    return this.src.readSync(t.offset, t.byteSize);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.src.close?.();
  }

  private denseInfo(name: string): GgufTensorInfo {
    const t = this.tensor(name);
    if (!t.dtype) {
      throw new CheckpointFormatError(
        this.path,
        `tensor '${name}' is quantized (${t.typeName}, blocks of ${t.blockSize} in ${t.typeSize} bytes); use readRaw() and a dequantizer`,
      );
    }
    return t;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`${this.path}: file is closed`);
  }

  private mistyped(key: string, v: GgufValue, want: string): GgufKeyError {
    const got = v.type === 'array' ? `an array of ${v.itemType}` : v.type;
    return new GgufKeyError(this.path, key, `GGUF key '${key}' is ${got}, expected ${want}`);
  }
}

export function openGguf(path: string): Promise<GgufFile> {
  return GgufFile.open(path);
}

export function openGgufSync(path: string): GgufFile {
  return GgufFile.openSync(path);
}

function readValue(c: Cursor, type: GgufValueType, path: string, depth: number): GgufValue {
  switch (type) {
    case 'array':
      return readArray(c, path, depth);
    case 'string':
      return { type, value: c.string() };
    case 'bool': {
      const b = c.u8();
      if (b > 1) throw new CheckpointFormatError(path, `invalid GGUF bool ${b} at byte ${c.pos - 1}`);
      return { type, value: b === 1 };
    }
    case 'uint64':
    case 'int64': {
      const b = new DataView(c.block(1, 8));
      return type === 'uint64'
        ? { type, value: b.getBigUint64(0, true) }
        : { type, value: b.getBigInt64(0, true) };
    }
    default: {
      const arr = readArrayData(c, type, 1, path, depth) as Exclude<
        GgufArrayData,
        boolean[] | string[] | GgufArray[]
      >;
      return { type, value: Number(arr[0]) };
    }
  }
}

const ITEM_SIZE: Partial<Record<GgufValueType, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
};

function readArrayData(
  c: Cursor,
  itemType: GgufValueType,
  n: number,
  path: string,
  depth: number,
): GgufArrayData {
  const size = ITEM_SIZE[itemType];
  switch (itemType) {
    case 'uint8':
      return new Uint8Array(c.block(n, size!));
    case 'int8':
      return new Int8Array(c.block(n, size!));
    case 'uint16':
      return new Uint16Array(c.block(n, size!));
    case 'int16':
      return new Int16Array(c.block(n, size!));
    case 'uint32':
      return new Uint32Array(c.block(n, size!));
    case 'int32':
      return new Int32Array(c.block(n, size!));
    case 'float32':
      return new Float32Array(c.block(n, size!));
    case 'float64':
      return new Float64Array(c.block(n, size!));
    case 'uint64':
      return new BigUint64Array(c.block(n, size!));
    case 'int64':
      return new BigInt64Array(c.block(n, size!));
    case 'bool':
      return Array.from(new Uint8Array(c.block(n, 1)), (b) => b !== 0);
    case 'string': {
      if (n * 8 > c.size - c.pos)
        throw new CheckpointFormatError(
          path,
          `GGUF string array of ${n} items runs past the end of the file`,
        );
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = c.string();
      return out;
    }
    case 'array': {
      if (n * 12 > c.size - c.pos)
        throw new CheckpointFormatError(
          path,
          `GGUF nested array of ${n} items runs past the end of the file`,
        );
      const out = new Array<GgufArray>(n);
      for (let i = 0; i < n; i++) out[i] = readArray(c, path, depth + 1);
      return out;
    }
  }
}

function readArray(c: Cursor, path: string, depth: number): GgufArray {
  if (depth > 8) throw new CheckpointFormatError(path, 'GGUF arrays nested too deeply');
  const itemType = valueType(c, path);
  const n = c.u64();
  return { type: 'array', itemType, value: readArrayData(c, itemType, n, path, depth) };
}

function valueType(c: Cursor, path: string): GgufValueType {
  const id = c.u32();
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined)
    throw new CheckpointFormatError(path, `unknown GGUF value type ${id} at byte ${c.pos - 4}`);
  return t;
}

function parse(path: string, src: GgufByteSource) {
  const size = src.size;
  const c = new Cursor(src, size, path);
  if (size < 24) throw new CheckpointFormatError(path, `not a GGUF file: only ${size} bytes`);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    throw new CheckpointFormatError(
      path,
      `not a GGUF file: bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "GGUF")`,
    );
  }
  const version = c.u32();
  if (version === 1)
    throw new CheckpointFormatError(
      path,
      'GGUF version 1 is not supported; re-convert the model with a current llama.cpp',
    );
  if (version !== 2 && version !== 3) {
    const hint = version > 0xffff ? ' (a big-endian GGUF?)' : '';
    throw new CheckpointFormatError(
      path,
      `unsupported GGUF version ${version}${hint}; versions 2 and 3 are supported`,
    );
  }
  const nTensors = c.u64();
  const nKv = c.u64();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string();
    if (metadata.has(key)) throw new CheckpointFormatError(path, `duplicate GGUF metadata key '${key}'`);
    metadata.set(key, readValue(c, valueType(c, path), path, 0));
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    if (al.type !== 'uint32' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new CheckpointFormatError(
        path,
        `general.alignment must be a uint32 power of two, got ${al.type}${al.type === 'uint32' ? ` ${al.value}` : ''}`,
      );
    }
    alignment = al.value;
  }
  const infos: (Omit<GgufTensorInfo, 'offset'> & { rel: number })[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string();
    if (names.has(name)) throw new CheckpointFormatError(path, `duplicate GGUF tensor '${name}'`);
    names.add(name);
    const nd = c.u32();
    if (nd > 8) throw new CheckpointFormatError(path, `tensor '${name}' has ${nd} dimensions`);
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(c.u64(Number.MAX_SAFE_INTEGER)); // checked below via the byte size
    const typeId = c.u32();
    const rel = c.u64(Number.MAX_SAFE_INTEGER); // checked below against the file end
    const t = ggmlType(typeId);
    if (!t)
      throw new CheckpointFormatError(
        path,
        `tensor '${name}' has unknown ggml type ${typeId} (a newer llama.cpp quantization?)`,
      );
    const n = dims.reduce((a, b) => a * b, 1);
    if ((dims[0] ?? 1) % t.blockSize !== 0) {
      throw new CheckpointFormatError(
        path,
        `tensor '${name}': ${t.name} needs ne[0] divisible by ${t.blockSize}, got ${dims[0]}`,
      );
    }
    if (rel % alignment !== 0)
      throw new CheckpointFormatError(
        path,
        `tensor '${name}' offset ${rel} is not a multiple of the alignment ${alignment}`,
      );
    infos.push({
      name,
      dims,
      shape: [...dims].reverse(),
      ggmlType: typeId,
      typeName: t.name,
      blockSize: t.blockSize,
      typeSize: t.typeSize,
      dtype: t.dtype,
      byteSize: (n / t.blockSize) * t.typeSize,
      rel,
    });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const tensors: GgufTensorInfo[] = infos.map(({ rel, ...t }) => ({ ...t, offset: dataOffset + rel }));
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let end = dataOffset;
  for (const t of sorted) {
    if (t.offset < end && t.byteSize > 0)
      throw new CheckpointFormatError(path, `tensor '${t.name}' overlaps the tensor before it`);
    end = Math.max(end, t.offset + t.byteSize);
    if (end > size) {
      throw new CheckpointFormatError(
        path,
        `tensor '${t.name}' ends at byte ${end} but the file has ${size} bytes (truncated download?)`,
      );
    }
  }
  return { version, metadata, tensors, alignment, dataOffset };
}
