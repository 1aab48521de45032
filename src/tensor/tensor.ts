/** The Tensor: a typed view (shape, strides, offset) over a reference-counted Storage. */
import { DTYPES, isFloat, type DType, type FloatArray, type StorageArray } from './dtype.js';
import { DisposedTensorError, DTypeError, ShapeError } from './errors.js';
import type { OpAttrs, OpName } from './op-names.js';
import { track, keep as keepTensor } from './scope.js';
import { contiguousStrides, isContiguous, numel, shapeStr, type Shape } from './shape.js';
import { Storage } from './storage.js';

/** One recorded operation: enough to run its gradient rule later. */
export interface Node<K extends OpName = OpName> {
  op: K;
  inputs: Tensor[];
  attrs: OpAttrs[K];
  /** Extra tensors the forward kept for the backward (e.g. RMSNorm's rstd). */
  saved: Tensor[];
  /** Non-tensor values the forward kept (e.g. the count of non-ignored targets). */
  extra?: Record<string, number>;
}

export type TensorKind = 'parameter' | 'activation' | 'constant';

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  /** Set by autodiff on leaves that require gradients; persists across scopes. */
  grad: Tensor | null = null;
  node: Node | null = null;
  requiresGrad = false;
  kind: TensorKind = 'activation';
  name: string | undefined;
  private disposed = false;

  constructor(
    readonly storage: Storage,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
  ) {
    storage.retain();
    track(this);
  }

  // ---- factories -------------------------------------------------------------------------------

  /** Uninitialised contiguous tensor from the pool: every element must be written before it is read. */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    return new Tensor(Storage.allocate(dtype, numel(shape)), dtype, [...shape], contiguousStrides(shape), 0);
  }

  static full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
    const t = Tensor.empty(shape, dtype);
    t.storage.data.fill(value);
    return t;
  }

  static zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
    return Tensor.full(shape, 0, dtype);
  }

  static ones(shape: Shape, dtype: DType = 'f32'): Tensor {
    return Tensor.full(shape, 1, dtype);
  }

  /** Wraps (does not copy) a typed array; a plain number array is copied into `dtype`. */
  static from(data: StorageArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
    checkShape(shape);
    const n = numel(shape);
    if (data.length !== n) {
      throw new ShapeError(`data has ${data.length} elements but shape ${shapeStr(shape)} needs ${n}`);
    }
    if (Array.isArray(data)) {
      const t = Tensor.empty(shape, dtype ?? 'f32');
      t.storage.data.set(data as number[]);
      return t;
    }
    const inferred = dtypeOfArray(data as StorageArray);
    const dt = dtype ?? inferred;
    if (DTYPES[dt].bytes !== (data as StorageArray).BYTES_PER_ELEMENT) {
      throw new DTypeError(`a ${data.constructor.name} cannot hold dtype ${dt}`);
    }
    return new Tensor(Storage.wrap(dt, data as StorageArray), dt, [...shape], contiguousStrides(shape), 0);
  }

  static scalar(value: number, dtype: DType = 'f32'): Tensor {
    return Tensor.full([], value, dtype);
  }

  /** A trainable leaf: untracked by scopes, requires grad, owns its `.grad`. */
  static parameter(data: Tensor, name?: string): Tensor {
    const p = data.isContiguous() && data.offset === 0 ? data : data.contiguousCopy();
    keepTensor(p);
    p.requiresGrad = true;
    p.kind = 'parameter';
    p.name = name;
    return p;
  }

  // ---- inspection ------------------------------------------------------------------------------

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The whole underlying buffer (views index it through strides and offset). */
  get data(): StorageArray {
    this.assertAlive();
    return this.storage.data;
  }

  /** The buffer as floats; throws for non-float dtypes. */
  get floats(): FloatArray {
    if (!isFloat(this.dtype)) throw new DTypeError(`tensor has dtype ${this.dtype}, expected f32 or f64`);
    return this.data as FloatArray;
  }

  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Contiguous copy of the elements as a plain array of numbers (bf16/f16 decoded by the caller). */
  toArray(): number[] {
    this.assertAlive();
    const data = this.storage.data;
    if (this.isContiguous()) return Array.from(data.subarray(this.offset, this.offset + this.size));
    const out = new Array<number>(this.size);
    let i = 0;
    const walk = (dim: number, base: number): void => {
      if (dim === this.rank) {
        out[i++] = data[base];
        return;
      }
      for (let k = 0; k < this.shape[dim]; k++) walk(dim + 1, base + k * this.strides[dim]);
    };
    walk(0, this.offset);
    return out;
  }

  item(): number {
    if (this.size !== 1)
      throw new ShapeError(`item() needs a tensor with one element, got ${shapeStr(this.shape)}`);
    this.assertAlive();
    return this.storage.data[this.offset];
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', grad' : ''})`;
  }

  // ---- lifetime --------------------------------------------------------------------------------

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.node = null;
    this.storage.release();
  }

  /** Keeps this tensor alive past the enclosing scope(s). */
  keep(): this {
    return keepTensor(this);
  }

  assertAlive(): void {
    if (this.disposed) {
      throw new DisposedTensorError(
        `${this.toString()} was disposed: it was created inside a scope that has ended. ` +
          'Return it from the scope or call keep() on it.',
      );
    }
  }

  /** A view sharing this tensor's storage. */
  view(shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.assertAlive();
    return new Tensor(this.storage, this.dtype, [...shape], [...strides], offset);
  }

  /** Plain strided copy without autodiff (the op front end's `contiguous` records one). */
  contiguousCopy(): Tensor {
    this.assertAlive();
    const t = Tensor.empty(this.shape, this.dtype);
    const src = this.toArray();
    for (let i = 0; i < src.length; i++) t.storage.data[i] = src[i];
    return t;
  }
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new ShapeError(`invalid shape ${shapeStr(shape)}: dims must be integers ≥ 0`);
  }
}

function dtypeOfArray(a: StorageArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int8Array) return 'i8';
  return 'bf16';
}
