// GGUF value types and ggml tensor types (ids and block sizes as in ggml/gguf-py's constants).

import type { DType } from './dtypes.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type ids, in file order. */
export const GGUF_VALUE_TYPES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
] as const;
export type GgufValueType = (typeof GGUF_VALUE_TYPES)[number];
export type GgufNumberType =
  'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
export type GgufBigIntType = 'uint64' | 'int64';

/** Arrays keep numeric items in typed arrays: a 150k-token vocabulary's scores stay one Float32Array. */
export type GgufArrayData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

export interface GgufArray {
  type: 'array';
  itemType: GgufValueType;
  value: GgufArrayData;
}

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArray;

/** Constructors for typed metadata values: `gv.uint32(40)`, `gv.array('string', tokens)`. */
export const gv = {
  uint8: (value: number): GgufValue => ({ type: 'uint8', value }),
  int8: (value: number): GgufValue => ({ type: 'int8', value }),
  uint16: (value: number): GgufValue => ({ type: 'uint16', value }),
  int16: (value: number): GgufValue => ({ type: 'int16', value }),
  uint32: (value: number): GgufValue => ({ type: 'uint32', value }),
  int32: (value: number): GgufValue => ({ type: 'int32', value }),
  float32: (value: number): GgufValue => ({ type: 'float32', value }),
  float64: (value: number): GgufValue => ({ type: 'float64', value }),
  uint64: (value: bigint | number): GgufValue => ({ type: 'uint64', value: BigInt(value) }),
  int64: (value: bigint | number): GgufValue => ({ type: 'int64', value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  array: (itemType: GgufValueType, value: GgufArrayData | number[] | bigint[]): GgufArray => ({
    type: 'array',
    itemType,
    value: toArrayData(itemType, value),
  }),
};

function toArrayData(itemType: GgufValueType, v: GgufArrayData | number[] | bigint[]): GgufArrayData {
  if (!Array.isArray(v)) return v;
  switch (itemType) {
    case 'uint8':
      return Uint8Array.from(v as number[]);
    case 'int8':
      return Int8Array.from(v as number[]);
    case 'uint16':
      return Uint16Array.from(v as number[]);
    case 'int16':
      return Int16Array.from(v as number[]);
    case 'uint32':
      return Uint32Array.from(v as number[]);
    case 'int32':
      return Int32Array.from(v as number[]);
    case 'float32':
      return Float32Array.from(v as number[]);
    case 'float64':
      return Float64Array.from(v as number[]);
    case 'uint64':
      return BigUint64Array.from((v as (number | bigint)[]).map((x) => BigInt(x)));
    case 'int64':
      return BigInt64Array.from((v as (number | bigint)[]).map((x) => BigInt(x)));
    default:
      return v as boolean[] | string[] | GgufArray[];
  }
}

export interface GgmlTypeInfo {
  id: number;
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** The DType of plain (unquantized) types; quantized types have none and are read as raw blocks. */
  dtype?: DType;
}

const QK_K = 256;
const TYPE_LIST: [number, string, number, number, DType?][] = [
  [0, 'F32', 1, 4, 'F32'],
  [1, 'F16', 1, 2, 'F16'],
  [2, 'Q4_0', 32, 2 + 16],
  [3, 'Q4_1', 32, 2 + 2 + 16],
  [6, 'Q5_0', 32, 2 + 4 + 16],
  [7, 'Q5_1', 32, 2 + 2 + 4 + 16],
  [8, 'Q8_0', 32, 2 + 32],
  [9, 'Q8_1', 32, 4 + 4 + 32],
  [10, 'Q2_K', 256, 2 + 2 + QK_K / 16 + QK_K / 4],
  [11, 'Q3_K', 256, 2 + QK_K / 4 + QK_K / 8 + 12],
  [12, 'Q4_K', 256, 2 + 2 + QK_K / 2 + 12],
  [13, 'Q5_K', 256, 2 + 2 + QK_K / 2 + QK_K / 8 + 12],
  [14, 'Q6_K', 256, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16],
  [15, 'Q8_K', 256, 4 + QK_K + QK_K / 8],
  [16, 'IQ2_XXS', 256, 2 + QK_K / 4],
  [17, 'IQ2_XS', 256, 2 + QK_K / 4 + QK_K / 32],
  [18, 'IQ3_XXS', 256, 2 + QK_K / 4 + QK_K / 8],
  [19, 'IQ1_S', 256, 2 + QK_K / 8 + QK_K / 16],
  [20, 'IQ4_NL', 32, 2 + 16],
  [21, 'IQ3_S', 256, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4],
  [22, 'IQ2_S', 256, 2 + QK_K / 4 + QK_K / 16],
  [23, 'IQ4_XS', 256, 2 + 2 + QK_K / 2 + QK_K / 64],
  [24, 'I8', 1, 1, 'I8'],
  [25, 'I16', 1, 2, 'I16'],
  [26, 'I32', 1, 4, 'I32'],
  [27, 'I64', 1, 8, 'I64'],
  [28, 'F64', 1, 8, 'F64'],
  [29, 'IQ1_M', 256, QK_K / 8 + QK_K / 16 + QK_K / 32],
  [30, 'BF16', 1, 2, 'BF16'],
  [34, 'TQ1_0', 256, 2 + 4 * 13],
  [35, 'TQ2_0', 256, 2 + 64],
  [39, 'MXFP4', 32, 1 + 16],
];

export const GGML_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map(
  TYPE_LIST.map(([id, name, blockSize, typeSize, dtype]) => [id, { id, name, blockSize, typeSize, dtype }]),
);
const BY_NAME = new Map([...GGML_TYPES.values()].map((t) => [t.name, t]));

/** Look a ggml type up by id or name ('Q8_0', 'F16', ...). */
export function ggmlType(t: number | string): GgmlTypeInfo | undefined {
  return typeof t === 'number' ? GGML_TYPES.get(t) : BY_NAME.get(t.toUpperCase());
}

/** The ggml type that stores a DType unchanged (BOOL and U8 have none in ggml). */
export function ggmlTypeForDType(dtype: DType): GgmlTypeInfo | undefined {
  return [...GGML_TYPES.values()].find((t) => t.dtype === dtype);
}
