/** Elementwise ops: unary, broadcasting binary, comparisons, scalars, where, cast. */
import { record } from './autograd.js';
import { getBackend } from './backend.js';
import { type DType } from './dtype.js';
import { DTypeError } from './errors.js';
import type { BinaryOp, CompareOp, UnaryOp } from './op-names.js';
import { Tensor } from './tensor.js';

function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'f32' && t.dtype !== 'f64') {
      throw new DTypeError(`${op} needs f32 or f64 tensors, got ${t.dtype}: cast() it first`);
    }
  }
  if (ts.some((t) => t.dtype !== ts[0].dtype)) {
    throw new DTypeError(
      `${op} got mixed dtypes (${ts.map((t) => t.dtype).join(', ')}): cast() to one dtype first`,
    );
  }
}

function makeUnary(op: UnaryOp): (x: Tensor) => Tensor {
  return (x) => {
    checkFloat(op, x);
    return record('unary', [x], { op }, getBackend().unary(op, x));
  };
}

export const neg = makeUnary('neg');
export const exp = makeUnary('exp');
export const log = makeUnary('log');
export const sqrt = makeUnary('sqrt');
export const rsqrt = makeUnary('rsqrt');
export const sigmoid = makeUnary('sigmoid');
export const tanh = makeUnary('tanh');
export const silu = makeUnary('silu');
/** Exact (erf) GELU, as SigLIP uses. */
export const gelu = makeUnary('gelu');
export const relu = makeUnary('relu');
export const square = makeUnary('square');
export const abs = makeUnary('abs');

function makeBinary(op: BinaryOp): (a: Tensor, b: Tensor) => Tensor {
  return (a, b) => {
    checkFloat(op, a, b);
    return record('binary', [a, b], { op }, getBackend().binary(op, a, b));
  };
}

export const add = makeBinary('add');
export const sub = makeBinary('sub');
export const mul = makeBinary('mul');
export const div = makeBinary('div');
export const maximum = makeBinary('maximum');
export const minimum = makeBinary('minimum');

/** 1.0 where the comparison holds, else 0.0 (same float dtype; not differentiable). */
export function compare(op: CompareOp, a: Tensor, b: Tensor): Tensor {
  checkFloat(op, a, b);
  return getBackend().compare(op, a, b);
}

export function addScalar(x: Tensor, value: number): Tensor {
  checkFloat('addScalar', x);
  return record('addScalar', [x], { value }, getBackend().scalar('add', x, value));
}

export function mulScalar(x: Tensor, value: number): Tensor {
  checkFloat('mulScalar', x);
  return record('mulScalar', [x], { value }, getBackend().scalar('mul', x, value));
}

export function powScalar(x: Tensor, value: number): Tensor {
  checkFloat('powScalar', x);
  return record('powScalar', [x], { value }, getBackend().scalar('pow', x, value));
}

/** cond ? a : b elementwise with broadcasting; cond is a u8 mask or a float tensor (≠ 0 is true). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkFloat('where', a, b);
  return record('where', [cond, a, b], {}, getBackend().where(cond, a, b));
}

/** Converts between dtypes (bf16/f16 round to nearest even; float → int truncates toward zero). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return record('cast', [x], { dtype }, getBackend().cast(x, dtype));
}

/** Any unary op by name (e.g. for tests and generic code). */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  return makeUnary(op)(x);
}

/** Any binary op by name. */
export function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return makeBinary(op)(a, b);
}
