// GGUF v3 writer: header and tensor infos first (so every tensor's shape and type must be known up front),
// then each tensor's data, padded to the alignment. Data is loaded one tensor at a time and the file is
// written atomically. Plain types (F32, F16, BF16, F64, I8..I64) come from records; pre-quantized blocks
// (Q8_0, Q4_0, ...) are passed through as raw bytes.

import { isValidShape } from './dtypes.js';
import { atomicWriteFile } from './file-io.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPES,
  ggmlType,
  ggmlTypeForDType,
  type GgmlTypeInfo,
  type GgufArray,
  type GgufValue,
  type GgufValueType,
} from './gguf-types.js';
import { checkSource, isLazy, type TensorSource } from './tensor-source.js';

/** Pre-quantized (or any ggml-typed) data passed through unchanged. `shape` is row-major (PyTorch order). */
export interface GgufRawTensor {
  name: string;
  shape: number[];
  ggmlType: number | string;
  data?: Uint8Array;
  load?(): Promise<Uint8Array> | Uint8Array;
}

export type GgufTensorSource = TensorSource | GgufRawTensor;

export interface WriteGgufOptions {
  /** Data alignment; written as general.alignment when it differs from 32. */
  alignment?: number;
}

class ByteBuilder {
  buf = new Uint8Array(1 << 16);
  len = 0;
  private enc = new TextEncoder();

  reserve(n: number): number {
    if (this.len + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  /** Reserve `n` bytes and return a view positioned on them (reserve first: it may replace the buffer). */
  at(n: number): DataView {
    const o = this.reserve(n);
    return new DataView(this.buf.buffer, o, n);
  }
  u8(x: number) {
    this.at(1).setUint8(0, x);
  }
  u32(x: number) {
    this.at(4).setUint32(0, x, true);
  }
  u64(x: number | bigint) {
    this.at(8).setBigUint64(0, BigInt(x), true);
  }
  string(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.byteLength);
    const o = this.reserve(b.byteLength);
    this.buf.set(b, o);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

const INT_RANGES: Partial<Record<GgufValueType, [number, number]>> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};

function writeScalar(b: ByteBuilder, type: GgufValueType, x: unknown, key: string): void {
  const range = INT_RANGES[type];
  if (range) {
    if (!Number.isInteger(x) || (x as number) < range[0] || (x as number) > range[1]) {
      throw new RangeError(`GGUF key '${key}': ${String(x)} is not a valid ${type}`);
    }
  }
  const n = x as number;
  switch (type) {
    case 'uint8':
      return b.at(1).setUint8(0, n);
    case 'int8':
      return b.at(1).setInt8(0, n);
    case 'uint16':
      return b.at(2).setUint16(0, n, true);
    case 'int16':
      return b.at(2).setInt16(0, n, true);
    case 'uint32':
      return b.at(4).setUint32(0, n, true);
    case 'int32':
      return b.at(4).setInt32(0, n, true);
    case 'float32':
      if (typeof x !== 'number') throw new TypeError(`GGUF key '${key}': float32 needs a number`);
      return b.at(4).setFloat32(0, n, true);
    case 'float64':
      if (typeof x !== 'number') throw new TypeError(`GGUF key '${key}': float64 needs a number`);
      return b.at(8).setFloat64(0, n, true);
    case 'uint64':
    case 'int64': {
      const v = typeof x === 'bigint' ? x : Number.isSafeInteger(x) ? BigInt(x as number) : undefined;
      const ok =
        v !== undefined && (type === 'uint64' ? BigInt.asUintN(64, v) === v : BigInt.asIntN(64, v) === v);
      if (!ok) throw new RangeError(`GGUF key '${key}': ${String(x)} is not a valid ${type}`);
      return type === 'uint64' ? b.at(8).setBigUint64(0, v, true) : b.at(8).setBigInt64(0, v, true);
    }
    case 'bool':
      if (typeof x !== 'boolean') throw new TypeError(`GGUF key '${key}': bool needs a boolean`);
      return b.u8(x ? 1 : 0);
    case 'string':
      if (typeof x !== 'string') throw new TypeError(`GGUF key '${key}': string needs a string`);
      return b.string(x);
    case 'array':
      return writeArray(b, x as GgufArray, key);
  }
}

function writeArray(b: ByteBuilder, a: GgufArray, key: string): void {
  if (!a || a.type !== 'array' || !GGUF_VALUE_TYPES.includes(a.itemType))
    throw new TypeError(`GGUF key '${key}': malformed array value`);
  b.u32(GGUF_VALUE_TYPES.indexOf(a.itemType));
  const items = a.value as ArrayLike<unknown>;
  b.u64(items.length);
  for (let i = 0; i < items.length; i++) writeScalar(b, a.itemType, items[i], key);
}

function writeValue(b: ByteBuilder, key: string, v: GgufValue): void {
  if (!v || !GGUF_VALUE_TYPES.includes(v.type))
    throw new TypeError(`GGUF key '${key}': unknown value type ${String(v?.type)}`);
  b.u32(GGUF_VALUE_TYPES.indexOf(v.type));
  writeScalar(b, v.type, v.type === 'array' ? v : v.value, key);
}

interface Planned {
  name: string;
  shape: number[];
  type: GgmlTypeInfo;
  byteSize: number;
  rel: number;
  load(): Promise<Uint8Array> | Uint8Array;
}

function plan(t: GgufTensorSource, alignOff: { off: number }, alignment: number): Planned {
  let type: GgmlTypeInfo | undefined;
  if ('ggmlType' in t) {
    type = ggmlType(t.ggmlType);
    if (!type) throw new TypeError(`tensor '${t.name}': unknown ggml type ${t.ggmlType}`);
    if (!isValidShape(t.shape))
      throw new TypeError(`tensor '${t.name}': invalid shape ${JSON.stringify(t.shape)}`);
  } else {
    checkSource(t);
    type = ggmlTypeForDType(t.dtype);
    if (!type)
      throw new TypeError(
        `tensor '${t.name}': ${t.dtype} has no ggml type; convert it (e.g. to I8 or F32) first`,
      );
  }
  const n = t.shape.reduce((a, b) => a * b, 1);
  const cols = t.shape.length ? t.shape[t.shape.length - 1] : 1;
  if (cols % type.blockSize !== 0) {
    throw new RangeError(
      `tensor '${t.name}': ${type.name} needs the last dimension divisible by ${type.blockSize}, got ${cols}`,
    );
  }
  const byteSize = (n / type.blockSize) * type.typeSize;
  const rel = alignOff.off;
  alignOff.off += Math.ceil(byteSize / alignment) * alignment;
  const load =
    'ggmlType' in t
      ? () => {
          if (t.data) return t.data;
          if (t.load) return t.load();
          throw new TypeError(`tensor '${t.name}' has neither data nor load()`);
        }
      : isLazy(t)
        ? () => t.load()
        : () => t.data;
  return { name: t.name, shape: [...t.shape], type, byteSize, rel, load };
}

/**
 * Write a GGUF v3 file. Metadata keys keep their insertion order; `shape` of every tensor is row-major
 * (PyTorch) and is written reversed as GGUF dims. Atomic: a crash leaves any previous file intact.
 */
export async function writeGguf(
  path: string,
  metadata: Map<string, GgufValue> | Iterable<[string, GgufValue]> | Record<string, GgufValue>,
  tensors: Iterable<GgufTensorSource>,
  opts: WriteGgufOptions = {},
): Promise<void> {
  const entries: [string, GgufValue][] =
    metadata instanceof Map || Symbol.iterator in metadata
      ? [...(metadata as Iterable<[string, GgufValue]>)]
      : Object.entries(metadata);
  let alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const given = entries.find(([k]) => k === 'general.alignment')?.[1];
  if (given) {
    if (given.type !== 'uint32') throw new TypeError('general.alignment must be a uint32');
    alignment = given.value;
  } else if (alignment !== GGUF_DEFAULT_ALIGNMENT) {
    entries.push(['general.alignment', { type: 'uint32', value: alignment }]);
  }
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new RangeError(`GGUF alignment must be a power of two, got ${alignment}`);
  }
  const keys = new Set<string>();
  const off = { off: 0 };
  const planned = [...tensors].map((t) => plan(t, off, alignment));
  const names = new Set<string>();
  for (const p of planned) {
    if (names.has(p.name)) throw new TypeError(`duplicate tensor name '${p.name}'`);
    names.add(p.name);
  }

  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(planned.length);
  b.u64(entries.length);
  for (const [key, v] of entries) {
    if (keys.has(key)) throw new TypeError(`duplicate GGUF metadata key '${key}'`);
    keys.add(key);
    b.string(key);
    writeValue(b, key, v);
  }
  for (const p of planned) {
    b.string(p.name);
    b.u32(p.shape.length);
    for (const d of [...p.shape].reverse()) b.u64(d);
    b.u32(p.type.id);
    b.u64(p.rel);
  }
  await atomicWriteFile(path, async (w) => {
    await w.write(b.bytes());
    await w.zeros(Math.ceil(w.position / alignment) * alignment - w.position);
    for (const p of planned) {
      const data = await p.load();
      if (data.byteLength !== p.byteSize) {
        throw new RangeError(
          `tensor '${p.name}': ${p.type.name} [${p.shape.join(', ')}] needs ${p.byteSize} bytes, data has ${data.byteLength}`,
        );
      }
      await w.write(data);
      await w.zeros(Math.ceil(p.byteSize / alignment) * alignment - p.byteSize);
    }
  });
}
