/** Reference elementwise kernels over strided views (generic over f32/f64 storage). */
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  Tensor,
  broadcastShapes,
  DTypeError,
  sameShape,
  type BinaryOp,
  type CompareOp,
  type DType,
  type FloatArray,
  type UnaryOp,
} from '../../tensor/index.js';
import { bf16ToF32Run, f32ToBf16Run } from './bf16-convert.js';
import { erf, INV_SQRT_2PI, sigmoid, SQRT1_2 } from './math.js';
import { forEachRow, stridesFor } from './strided.js';

export function contiguous(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  assign(out, x);
  return out;
}

/** dst (a view) ← src broadcast to dst's shape. */
export function assign(dst: Tensor, src: Tensor): void {
  if (dst.dtype !== src.dtype) throw new DTypeError(`assign: ${src.dtype} into ${dst.dtype}; cast first`);
  const d = dst.data;
  const s = src.data;
  // one block copy when both are dense and the shapes match (a KV-cache append: 18k rows of 64 apart)
  if (dst.isContiguous() && src.isContiguous() && sameShape(dst.shape, src.shape)) {
    d.set(s.subarray(src.offset, src.offset + src.size), dst.offset);
    return;
  }
  const sv = { offset: src.offset, strides: stridesFor(src.shape, src.strides, dst.shape) };
  const ds = dst.strides[dst.rank - 1] ?? 1;
  const ss = sv.strides[dst.rank - 1] ?? 1;
  forEachRow(dst.shape, [dst, sv], ([od, os], n) => {
    if (ds === 1 && ss === 1) d.set(s.subarray(os, os + n), od);
    else for (let i = 0; i < n; i++) d[od + i * ds] = s[os + i * ss];
  });
}

export function fill(dst: Tensor, value: number): void {
  const d = dst.data;
  const ds = dst.strides[dst.rank - 1] ?? 1;
  forEachRow(dst.shape, [dst], ([o], n) => {
    if (ds === 1) d.fill(value, o, o + n);
    else for (let i = 0; i < n; i++) d[o + i * ds] = value;
  });
}

function decode(dtype: DType): ((v: number) => number) | null {
  if (dtype === 'bf16') return bf16ToF32;
  if (dtype === 'f16') return f16ToF32;
  return null;
}

function encode(dtype: DType): (v: number) => number {
  switch (dtype) {
    case 'bf16':
      return f32ToBf16;
    case 'f16':
      return f32ToF16;
    case 'f32':
      return Math.fround;
    case 'f64':
      return (v) => v;
    default:
      // Integers: truncate toward zero; the typed array wraps/clamps as JavaScript defines.
      return Math.trunc;
  }
}

export function cast(x: Tensor, dtype: DType): Tensor {
  const out = Tensor.empty(x.shape, dtype);
  // contiguous f32 ⇄ bf16 (KV-cache writes, bf16 weights): one tight loop, same bits
  if (x.isContiguous() && x.dtype === 'f32' && dtype === 'bf16') {
    f32ToBf16Run(x.data as Float32Array, x.offset, out.data as Uint16Array, 0, x.size);
    return out;
  }
  if (x.isContiguous() && x.dtype === 'bf16' && dtype === 'f32') {
    bf16ToF32Run(x.data as Uint16Array, x.offset, out.data as Float32Array, 0, x.size);
    return out;
  }
  const dec = decode(x.dtype);
  const enc = encode(dtype);
  const src = x.data;
  const dst = out.data;
  const ss = x.strides[x.rank - 1] ?? 1;
  let j = 0;
  forEachRow(x.shape, [x], ([o], n) => {
    for (let i = 0; i < n; i++) {
      const v = src[o + i * ss];
      dst[j++] = enc(dec ? dec(v) : v);
    }
  });
  return out;
}

type Fn1 = (x: number) => number;

const UNARY: Record<UnaryOp, Fn1> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  sigmoid,
  tanh: Math.tanh,
  silu: (x) => x * sigmoid(x),
  gelu: (x) => 0.5 * x * (1 + erf(x * SQRT1_2)),
  relu: (x) => (x > 0 ? x : 0),
  square: (x) => x * x,
  abs: Math.abs,
};

/** d op(x)/dx given x and y = op(x). */
const UNARY_GRAD: Record<UnaryOp, (x: number, y: number) => number> = {
  neg: () => -1,
  exp: (_x, y) => y,
  log: (x) => 1 / x,
  sqrt: (_x, y) => 0.5 / y,
  rsqrt: (_x, y) => -0.5 * y * y * y,
  sigmoid: (_x, y) => y * (1 - y),
  tanh: (_x, y) => 1 - y * y,
  silu: (x) => {
    const s = sigmoid(x);
    return s + x * s * (1 - s);
  },
  gelu: (x) => 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  relu: (x) => (x > 0 ? 1 : 0),
  square: (x) => 2 * x,
  abs: (x) => Math.sign(x),
};

function map1(x: Tensor, f: Fn1): Tensor {
  const out = Tensor.empty(x.shape, x.dtype);
  const src = x.data as FloatArray;
  const dst = out.data as FloatArray;
  const ss = x.strides[x.rank - 1] ?? 1;
  let j = 0;
  forEachRow(x.shape, [x], ([o], n) => {
    for (let i = 0; i < n; i++) dst[j++] = f(src[o + i * ss]);
  });
  return out;
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  return map1(x, UNARY[op]);
}

/** Applies f(a, b) elementwise with broadcasting into a fresh contiguous tensor. */
export function map2(a: Tensor, b: Tensor, f: (a: number, b: number) => number): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.empty(shape, a.dtype);
  const av = { offset: a.offset, strides: stridesFor(a.shape, a.strides, shape) };
  const bv = { offset: b.offset, strides: stridesFor(b.shape, b.strides, shape) };
  const A = a.data as FloatArray;
  const B = b.data as FloatArray;
  const O = out.data as FloatArray;
  const sa = av.strides[shape.length - 1] ?? 1;
  const sb = bv.strides[shape.length - 1] ?? 1;
  let j = 0;
  forEachRow(shape, [av, bv], ([oa, ob], n) => {
    for (let i = 0; i < n; i++) O[j++] = f(A[oa + i * sa], B[ob + i * sb]);
  });
  return out;
}

export function unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor): Tensor {
  const g = UNARY_GRAD[op];
  const xy = map2(x, y, g);
  const out = map2(dy, xy, (d, k) => d * k);
  xy.dispose();
  return out;
}

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
};

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return map2(a, b, BINARY[op]);
}

const COMPARE: Record<CompareOp, (a: number, b: number) => number> = {
  eq: (a, b) => (a === b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
};

export function compare(op: CompareOp, a: Tensor, b: Tensor): Tensor {
  return map2(a, b, COMPARE[op]);
}

export function scalar(op: 'add' | 'mul' | 'pow', x: Tensor, value: number): Tensor {
  if (op === 'add') return map1(x, (v) => v + value);
  if (op === 'mul') return map1(x, (v) => v * value);
  if (value === 2) return map1(x, (v) => v * v);
  return map1(x, (v) => Math.pow(v, value));
}

export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape);
  const out = Tensor.empty(shape, a.dtype);
  const views = [cond, a, b].map((t) => ({
    offset: t.offset,
    strides: stridesFor(t.shape, t.strides, shape),
  }));
  const [C, A, B] = [cond.data, a.data, b.data];
  const O = out.data;
  const last = shape.length - 1;
  const [sc, sa, sb] = views.map((v) => v.strides[last] ?? 1);
  let j = 0;
  forEachRow(shape, views, ([oc, oa, ob], n) => {
    for (let i = 0; i < n; i++) O[j++] = C[oc + i * sc] !== 0 ? A[oa + i * sa] : B[ob + i * sb];
  });
  return out;
}
