/**
 * A decoder layer's residual step, x + s·y followed (optionally) by the next RMSNorm, as one op. With
 * autograd recording (or on a backend without the fusion) it is exactly the composition of mulScalar,
 * add and rmsNorm; for inference the backend may run it as one pass over the rows
 * (`Backend.residualNorm`), with the same values bit for bit, which saves a prefill two passes over its
 * [T, d] activations and the s·y buffer.
 */
import { getBackend } from './backend.js';
import { ShapeError } from './errors.js';
import { add, mulScalar } from './ops-elementwise.js';
import { rmsNorm } from './ops-nn.js';
import { isGradEnabled } from './scope.js';
import { sameShape, shapeStr } from './shape.js';
import type { Tensor } from './tensor.js';

export interface ResidualNorm {
  /** x + s·y */
  sum: Tensor;
  /** rmsNorm(sum, gain, eps), or null without a gain. */
  norm: Tensor | null;
}

/** x + s·y (s = 1 adds y as it is) and, given `gain` [d], rmsNorm of that sum with `eps`. */
export function residualNorm(x: Tensor, y: Tensor, s: number, gain: Tensor | null, eps = 0): ResidualNorm {
  if (!sameShape(x.shape, y.shape))
    throw new ShapeError(`residualNorm: x ${shapeStr(x.shape)} and y ${shapeStr(y.shape)} differ`);
  const recording = isGradEnabled() && (x.requiresGrad || y.requiresGrad || gain?.requiresGrad === true);
  if (!recording && x.dtype === 'f32' && y.dtype === 'f32') {
    if (gain && (gain.rank !== 1 || gain.shape[0] !== x.shape[x.rank - 1]))
      throw new ShapeError(
        `rmsNorm gain ${shapeStr(gain.shape)} does not match the last dim of ${shapeStr(x.shape)}`,
      );
    const fused = getBackend().residualNorm?.(x, y, s, gain, eps);
    if (fused) return fused;
  }
  const sum = add(x, s === 1 ? y : mulScalar(y, s));
  return { sum, norm: gain ? rmsNorm(sum, gain, eps) : null };
}
