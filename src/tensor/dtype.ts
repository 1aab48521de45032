/** Element types. f64 exists for gradient checks on the reference path; bf16/f16 are storage-only. */
export type DType = 'f32' | 'f64' | 'bf16' | 'f16' | 'i32' | 'u8' | 'i8';

export type FloatArray = Float32Array | Float64Array;
export type StorageArray = Float32Array | Float64Array | Uint16Array | Int32Array | Uint8Array | Int8Array;

export interface DTypeInfo {
  bytes: number;
  /** Whether arithmetic ops accept it directly (others must be cast first). */
  computable: boolean;
  make(length: number): StorageArray;
}

export const DTYPES: Record<DType, DTypeInfo> = {
  f32: { bytes: 4, computable: true, make: (n) => new Float32Array(n) },
  f64: { bytes: 8, computable: true, make: (n) => new Float64Array(n) },
  bf16: { bytes: 2, computable: false, make: (n) => new Uint16Array(n) },
  f16: { bytes: 2, computable: false, make: (n) => new Uint16Array(n) },
  i32: { bytes: 4, computable: false, make: (n) => new Int32Array(n) },
  u8: { bytes: 1, computable: false, make: (n) => new Uint8Array(n) },
  i8: { bytes: 1, computable: false, make: (n) => new Int8Array(n) },
};

export function isFloat(dtype: DType): dtype is 'f32' | 'f64' {
  return dtype === 'f32' || dtype === 'f64';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits → f32 value: bf16 is the upper half of an IEEE f32. */
export function bf16ToF32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** f32 value → bf16 bits, rounding to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits → f32 value, including subnormals, infinities and NaN. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f32 value → f16 bits, rounding to nearest even (overflow → ±inf). */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}
