/**
 * The native residual step of a prefill (native/src/prefill-residual.c): sum = x + s·y and optionally
 * norm = rmsNorm(sum)·gain in one pass over the rows. Its TypeScript twin is the composition the tensor
 * op falls back to (scalar mul, add, rmsNorm: tensor/ops-residual.ts), which it equals bit for bit.
 */
import { sameShape, Tensor } from '../../tensor/index.js';
import type { NnKernels } from '../kernels.js';

const ok = (t: Tensor): boolean => t.dtype === 'f32' && t.isContiguous();

/** Null when the kernel is missing or the inputs are not contiguous f32 of one shape (gain [d]). */
export function residualNormNative(
  k: NnKernels,
  x: Tensor,
  y: Tensor,
  s: number,
  gain: Tensor | null,
  eps: number,
): { sum: Tensor; norm: Tensor | null } | null {
  if (!k.prefillResidual || !ok(x) || !ok(y) || (gain && !ok(gain)) || x.size === 0) return null;
  if (!sameShape(x.shape, y.shape)) return null;
  const D = x.shape[x.rank - 1];
  if (gain && (gain.rank !== 1 || gain.shape[0] !== D)) return null;
  const sum = Tensor.empty(x.shape);
  const norm = gain ? Tensor.empty(x.shape) : null;
  const f = (t: Tensor): Float32Array => t.data as Float32Array;
  k.prefillResidual(
    f(x),
    x.offset,
    f(y),
    y.offset,
    f(sum),
    0,
    f(gain ?? sum),
    gain?.offset ?? 0,
    f(norm ?? sum),
    0,
    s,
    x.size / D,
    D,
    eps,
    gain ? 1 : 0,
  );
  return { sum, norm };
}
