/** Shape ops. reshape/permute/expand/slice are views where the layout allows; concat copies. */
import { record } from './autograd.js';
import { getBackend } from './backend.js';
import { ShapeError } from './errors.js';
import { broadcastStrides, normalizeAxis, numel, shapeStr, contiguousStrides } from './shape.js';
import { Tensor } from './tensor.js';

/** Copy into a fresh contiguous tensor (a no-op on one that already is). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous() && x.offset === 0 && x.size === x.data.length) return x;
  return record('contiguous', [x], {}, getBackend().contiguous(x));
}

/** Reshape; one dim may be −1. A view when x is contiguous, else a copy first. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = resolveShape(shape, x.size, x.shape);
  const base = x.isContiguous() ? x : getBackend().contiguous(x);
  const out = base.view(resolved, contiguousStrides(resolved), base.offset);
  return record('reshape', [x], { shape: resolved }, out);
}

function resolveShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const known = numel(out.filter((_, i) => i !== free));
    out[free] = known === 0 ? 0 : size / known;
  }
  if (!out.every((d) => Number.isInteger(d) && d >= 0) || numel(out) !== size) {
    throw new ShapeError(`cannot reshape ${shapeStr(from)} (${size} elements) to ${shapeStr(shape)}`);
  }
  return out;
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.rank || new Set(dims.map((d) => normalizeAxis(d, x.rank))).size !== x.rank) {
    throw new ShapeError(`permute(${dims.join(', ')}) is not a permutation of ${x.rank} dims`);
  }
  const d = dims.map((a) => normalizeAxis(a, x.rank));
  const out = x.view(
    d.map((i) => x.shape[i]),
    d.map((i) => x.strides[i]),
    x.offset,
  );
  return record('permute', [x], { dims: d }, out);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = [...Array(x.rank).keys()];
  const i = normalizeAxis(a, x.rank);
  const j = normalizeAxis(b, x.rank);
  [dims[i], dims[j]] = [dims[j], dims[i]];
  return permute(x, dims);
}

/** Broadcasts x to `shape` without copying (size-1 dims get stride 0). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.rank)
    throw new ShapeError(`cannot expand ${shapeStr(x.shape)} to fewer dims ${shapeStr(shape)}`);
  const lead = shape.length - x.rank;
  x.shape.forEach((d, i) => {
    if (d !== 1 && d !== shape[lead + i])
      throw new ShapeError(`cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  });
  const out = x.view(shape, broadcastStrides(x.shape, x.strides, shape), x.offset);
  return record('expand', [x], { shape: [...shape] }, out);
}

/** x[..., start:end, ...] along `axis` (a view). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normalizeAxis(axis, x.rank);
  const n = x.shape[a];
  if (!(0 <= start && start <= end && end <= n)) {
    throw new ShapeError(`slice [${start}, ${end}) is out of range for dim ${a} of size ${n}`);
  }
  const shape = [...x.shape];
  shape[a] = end - start;
  const out = x.view(shape, x.strides, x.offset + start * x.strides[a]);
  return record('slice', [x], { axis: a, start, end }, out);
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat needs at least one tensor');
  const a = normalizeAxis(axis, xs[0].rank);
  const shape = [...xs[0].shape];
  shape[a] = 0;
  for (const x of xs) {
    if (
      x.rank !== shape.length ||
      x.shape.some((d, i) => i !== a && d !== xs[0].shape[i]) ||
      x.dtype !== xs[0].dtype
    ) {
      throw new ShapeError(
        `concat along ${a}: ${xs.map((t) => `${shapeStr(t.shape)} ${t.dtype}`).join(', ')} do not fit`,
      );
    }
    shape[a] += x.shape[a];
  }
  const out = Tensor.empty(shape, xs[0].dtype);
  let at = 0;
  for (const x of xs) {
    const dstShape = [...shape];
    dstShape[a] = x.shape[a];
    getBackend().assign(out.view(dstShape, out.strides, at * out.strides[a]), x);
    at += x.shape[a];
  }
  return record('concat', [...xs], { axis: a }, out);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank);
  if (x.shape[a] !== 1) throw new ShapeError(`cannot squeeze dim ${a} of size ${x.shape[a]}`);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}
