/** Reductions and matmul. */
import { record } from './autograd.js';
import { getBackend } from './backend.js';
import { isGradEnabled } from './scope.js';
import { DTypeError, ShapeError } from './errors.js';
import { normalizeAxis, shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

function axesOf(x: Tensor, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return [...Array(x.rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normalizeAxis(a, x.rank)))].sort((a, b) => a - b);
}

export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = axesOf(x, axes);
  return record('sum', [x], { axes: ax, keepdim }, getBackend().reduce('sum', x, ax, keepdim));
}

export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = axesOf(x, axes);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const s = sum(x, ax, keepdim);
  return record('mulScalar', [s], { value: 1 / count }, getBackend().scalar('mul', s, 1 / count));
}

/** Max over axes; the gradient is split evenly among tied maxima. */
export function max(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = axesOf(x, axes);
  return record('max', [x], { axes: ax, keepdim }, getBackend().reduce('max', x, ax, keepdim));
}

/**
 * Batched matrix product of the last two dims: op(a) [.., M, K] · op(b) [.., K, N]. Leading dims
 * broadcast; a 2-D b (a weight) is shared by every batch.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank < 2 || b.rank < 2)
    throw new ShapeError(`matmul needs rank ≥ 2, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  // A bf16 weight is frozen: f32 activations × W[out, in]ᵀ stored as bf16 (inference, or a QLoRA base),
  // and dy · W, the input gradient of that product.
  const bf16Weight = b.dtype === 'bf16' && a.dtype === 'f32' && !transA && b.rank === 2;
  if (bf16Weight && b.requiresGrad)
    throw new DTypeError('a bf16 weight cannot be trained: keep trainable weights in f32');
  if (!bf16Weight && (a.dtype !== b.dtype || (a.dtype !== 'f32' && a.dtype !== 'f64'))) {
    throw new DTypeError(
      `matmul needs two f32 (or two f64) tensors, or f32 · a frozen bf16 weight, got ${a.dtype} and ${b.dtype}`,
    );
  }
  const k1 = transA ? a.shape[a.rank - 2] : a.shape[a.rank - 1];
  const k2 = transB ? b.shape[b.rank - 1] : b.shape[b.rank - 2];
  if (k1 !== k2) {
    throw new ShapeError(
      `matmul inner dims differ: ${shapeStr(a.shape)}${transA ? 'ᵀ' : ''} · ${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  }
  return record('matmul', [a, b], { transA, transB }, getBackend().matmul(a, b, transA, transB));
}

/** x · Wᵀ for a PyTorch-layout weight W [out, in]. */
export function linear(x: Tensor, weight: Tensor): Tensor {
  return matmul(x, weight, false, true);
}

/**
 * Records y = x · Wᵀ that was computed outside the engine for a frozen weight it cannot hold (int4/int8
 * weights, quant/): backward passes `inputGrad(dy)` = dy · W to x; W never gets a gradient.
 */
export function frozenLinear(x: Tensor, y: Tensor, inputGrad: (dy: Tensor) => Tensor): Tensor {
  return record('frozenLinear', [x], { inputGrad }, y);
}

/**
 * x · Wᵢᵀ for several weights sharing x (q/k/v, gate/up). Equal to one `linear` per weight; without
 * gradients the backend may run them as one pass (`Backend.linearMany`: a decode step's GEMVs then
 * share one trip through the thread pool), and the results are views of one buffer.
 */
export function linears(x: Tensor, weights: readonly Tensor[]): Tensor[] {
  const K = x.shape[x.rank - 1];
  const fusable =
    weights.length > 1 &&
    x.rank >= 2 &&
    !(isGradEnabled() && (x.requiresGrad || weights.some((w) => w.requiresGrad))) &&
    weights.every((w) => w.rank === 2 && w.shape[1] === K);
  const out = fusable ? (getBackend().linearMany?.(x, weights) ?? null) : null;
  if (!out) return weights.map((w) => linear(x, w));
  let at = 0;
  return weights.map((w) => {
    const n = w.shape[0];
    const v = out.view([...out.shape.slice(0, -1), n], out.strides, out.offset + at);
    at += n;
    return v;
  });
}
