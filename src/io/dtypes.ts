// Raw tensor records and dtype conversions shared by every format in src/io.
// Records hold little-endian bytes exactly as they sit in a file, so formats can pass data through
// without decoding; conversion to numbers happens only where a caller asks for it.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorRecord {
  name: string;
  dtype: DType;
  shape: number[];
  /** Little-endian raw bytes, row-major (C order), exactly numel(shape) * dtypeSize(dtype) long. */
  data: Uint8Array;
}

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const DTYPES = Object.keys(DTYPE_SIZE) as DType[];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

// Typed-array views below reinterpret bytes in host order; every supported Node platform is LE.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('src/io assumes a little-endian host; this machine is big-endian');
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteSize(dtype: DType, shape: readonly number[]): number {
  return numel(shape) * DTYPE_SIZE[dtype];
}

/** True if `shape` is a list of non-negative safe integers. */
export function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

function checkRecordSize(r: {
  name: string;
  dtype: DType;
  shape: readonly number[];
  data: Uint8Array;
}): void {
  const want = byteSize(r.dtype, r.shape);
  if (r.data.byteLength !== want) {
    throw new RangeError(
      `tensor '${r.name}': ${r.dtype} [${r.shape.join(', ')}] needs ${want} bytes but data has ${r.data.byteLength}`,
    );
  }
}

/** Bytes as a view if already aligned to `align`, otherwise as an aligned copy (typed views need it). */
function aligned(data: Uint8Array, align: number): Uint8Array {
  return data.byteOffset % align === 0 ? data : data.slice();
}

export type TypedView =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

/**
 * The record's bytes as the natural typed array (F16/BF16 as raw Uint16 bits, BOOL as Uint8).
 * Shares memory with `record.data` when it is suitably aligned.
 */
export function typedView(record: TensorRecord): TypedView {
  checkRecordSize(record);
  const size = DTYPE_SIZE[record.dtype];
  const d = aligned(record.data, size);
  const n = d.byteLength / size;
  switch (record.dtype) {
    case 'F64':
      return new Float64Array(d.buffer, d.byteOffset, n);
    case 'F32':
      return new Float32Array(d.buffer, d.byteOffset, n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(d.buffer, d.byteOffset, n);
    case 'I64':
      return new BigInt64Array(d.buffer, d.byteOffset, n);
    case 'I32':
      return new Int32Array(d.buffer, d.byteOffset, n);
    case 'I16':
      return new Int16Array(d.buffer, d.byteOffset, n);
    case 'I8':
      return new Int8Array(d.buffer, d.byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(d.buffer, d.byteOffset, n);
  }
}

/** Wrap a typed array as a record; the dtype follows from the array type. Shares memory with `arr`. */
export function fromTypedArray(
  name: string,
  shape: number[],
  arr: Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array,
  dtypeOverride?: 'BOOL',
): TensorRecord {
  const dtype: DType =
    arr instanceof Float64Array
      ? 'F64'
      : arr instanceof Float32Array
        ? 'F32'
        : arr instanceof BigInt64Array
          ? 'I64'
          : arr instanceof Int32Array
            ? 'I32'
            : arr instanceof Int16Array
              ? 'I16'
              : arr instanceof Int8Array
                ? 'I8'
                : (dtypeOverride ?? 'U8');
  const rec = { name, dtype, shape, data: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength) };
  checkRecordSize(rec);
  return rec;
}

// ---- scalar bit conversions -------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 bits → bfloat16 bits, round to nearest even; NaN → 0x7FC0 as PyTorch does. */
export function f32BitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 bits → IEEE half bits, round to nearest even, with subnormals, overflow to inf and NaN. */
export function f32BitsToF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // half-precision biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e >= 1) {
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++; // a carry may reach inf: correct
    return sign | h;
  }
  if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
  const m = mant | 0x800000;
  const shift = 14 - e; // 14..24
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++; // may become the smallest normal: correct
  return sign | h;
}

let f16Table: Float32Array | undefined;
/** All 65536 half values, built once: decoding big F16 tensors is then one lookup per element. */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) bits[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else t[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero and subnormals are exact in f32
  }
  f16Table = t;
  return t;
}

export function f16ToF32(h: number): number {
  return f16ToF32Table()[h & 0xffff];
}

export function bf16ToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToBf16(u32Scratch[0]);
}

export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16(u32Scratch[0]);
}

// ---- bulk conversions ---------------------------------------------------------------------------

/**
 * The record's values as float32. F32 input is returned as a view sharing memory with `record.data`
 * (when aligned); other dtypes are converted into a new array (I64 through Number, exact below 2^24).
 */
export function toFloat32(record: TensorRecord): Float32Array {
  const v = typedView(record);
  switch (record.dtype) {
    case 'F32':
      return v as Float32Array;
    case 'BF16': {
      const src = v as Uint16Array;
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const src = v as Uint16Array;
      const table = f16ToF32Table();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
      return out;
    }
    case 'I64': {
      const src = v as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(v as Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array);
  }
}

/** Float32 values to a record of `dtype` (F32 shares memory with `data`; BF16/F16 round to nearest even). */
export function fromFloat32(
  name: string,
  shape: number[],
  data: Float32Array,
  dtype: 'F32' | 'F16' | 'BF16' | 'F64' = 'F32',
): TensorRecord {
  if (data.length !== numel(shape)) {
    throw new RangeError(
      `tensor '${name}': shape [${shape.join(', ')}] has ${numel(shape)} elements, data ${data.length}`,
    );
  }
  switch (dtype) {
    case 'F32':
      return fromTypedArray(name, shape, data);
    case 'F64':
      return fromTypedArray(name, shape, Float64Array.from(data));
    case 'BF16':
    case 'F16': {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      const out = new Uint16Array(data.length);
      const conv = dtype === 'BF16' ? f32BitsToBf16 : f32BitsToF16;
      for (let i = 0; i < bits.length; i++) out[i] = conv(bits[i]);
      return { name, dtype, shape, data: new Uint8Array(out.buffer) };
    }
  }
}

/**
 * Convert a float record to another float dtype. F64 → F32 rounds once; F64 → F16/BF16 goes through
 * float32 and so may double-round in rare ties (acceptable for checkpoints, which are never F64 at rest).
 */
export function castFloat(record: TensorRecord, dtype: 'F32' | 'F16' | 'BF16' | 'F64'): TensorRecord {
  if (record.dtype === dtype) return record;
  if (record.dtype === 'F64' && dtype === 'F32') {
    return fromTypedArray(record.name, record.shape, Float32Array.from(typedView(record) as Float64Array));
  }
  return fromFloat32(record.name, record.shape, toFloat32(record), dtype);
}
