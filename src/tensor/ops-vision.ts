/**
 * Ops the vision tower and the resampler need: LayerNorm with a bias (fused, hand-written backward;
 * its composite twin is the oracle), a linear layer with a bias, and the bicubic resizing of position
 * tables as a matrix product with a constant interpolation matrix (resizing is linear in the table,
 * so matmul's rule is its exact backward).
 */
import { record } from './autograd.js';
import { getBackend } from './backend.js';
import { DTypeError, ShapeError } from './errors.js';
import { add, addScalar, mul, rsqrt, square, sub } from './ops-elementwise.js';
import { linear, matmul, mean } from './ops-reduce.js';
import { reshape } from './ops-shape.js';
import { shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

function checkLayerNorm(x: Tensor, weight: Tensor, bias: Tensor): void {
  const d = x.shape[x.rank - 1];
  if (weight.rank !== 1 || bias.rank !== 1 || weight.shape[0] !== d || bias.shape[0] !== d) {
    throw new ShapeError(
      `layerNorm weight ${shapeStr(weight.shape)} / bias ${shapeStr(bias.shape)} do not match the last dim of ${shapeStr(x.shape)}`,
    );
  }
  if (x.dtype !== weight.dtype || x.dtype !== bias.dtype || (x.dtype !== 'f32' && x.dtype !== 'f64'))
    throw new DTypeError(`layerNorm needs one float dtype, got ${x.dtype}, ${weight.dtype}, ${bias.dtype}`);
}

/** (x − mean) / sqrt(var + eps) · weight + bias over the last axis (biased variance, as torch). Fused. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  checkLayerNorm(x, weight, bias);
  const { y, mean, rstd } = getBackend().layerNorm(x, weight, bias, eps);
  return record('layerNorm', [x, weight, bias], { eps }, y, [mean, rstd]);
}

/** The same LayerNorm from primitives: the fused op's test oracle. */
export function layerNormComposite(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  checkLayerNorm(x, weight, bias);
  const xc = sub(x, mean(x, -1, true));
  const rstd = rsqrt(addScalar(mean(square(xc), -1, true), eps));
  return add(mul(mul(xc, rstd), weight), bias);
}

/** x · Wᵀ + b for a PyTorch Linear (W [out, in], b [out] or null). */
export function linearBias(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const y = linear(x, weight);
  return bias ? add(y, bias) : y;
}

/**
 * 'antialias': torch interpolate(bicubic, antialias=True) = Pillow's filter (a = −0.5, support
 * 2·max(scale, 1), weights normalised per output). 'plain': torch interpolate(bicubic,
 * align_corners=False) (a = −0.75, four taps around scale·(i + ½) − ½, indices clamped to the edge).
 */
export type ResizeKind = 'antialias' | 'plain';

function cubicAA(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Keys' cubic convolution with A = −0.75 (torch's upsample_bicubic2d), for |x| ≤ 2. */
function cubicPlain(x: number): number {
  const A = -0.75;
  x = Math.abs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/** The [outSize, inSize] matrix that resizes one axis (float64). */
export function resizeMatrix(inSize: number, outSize: number, kind: ResizeKind): Float64Array {
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const row = o * inSize;
    if (kind === 'antialias') {
      const support = 2 * Math.max(scale, 1);
      const inv = scale >= 1 ? 1 / scale : 1;
      const center = scale * (o + 0.5);
      const lo = Math.max(Math.trunc(center - support + 0.5), 0);
      const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
      let total = 0;
      for (let j = lo; j < hi; j++) total += m[row + j] = cubicAA((j - center + 0.5) * inv);
      if (total !== 0) for (let j = lo; j < hi; j++) m[row + j] /= total;
    } else {
      const real = scale * (o + 0.5) - 0.5;
      const i0 = Math.floor(real);
      const t = real - i0;
      const w = [cubicPlain(t + 1), cubicPlain(t), cubicPlain(1 - t), cubicPlain(2 - t)];
      for (let k = 0; k < 4; k++) {
        const j = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
        m[row + j] += w[k];
      }
    }
  }
  return m;
}

/**
 * Resizes a row-major grid table [h·w, C] to [H·W, C] along both axes (separable, as torch's 2-D
 * interpolate), differentiably. Returns `table` itself when the size does not change.
 */
export function resizeGrid(
  table: Tensor,
  from: [number, number],
  to: [number, number],
  kind: ResizeKind,
): Tensor {
  const [h, w] = from;
  const [H, W] = to;
  if (table.rank !== 2 || table.shape[0] !== h * w)
    throw new ShapeError(
      `resizeGrid: a ${h}×${w} grid needs a [${h * w}, C] table, got ${shapeStr(table.shape)}`,
    );
  if (h === H && w === W) return table;
  const C = table.shape[1];
  const dtype = table.dtype === 'f64' ? 'f64' : 'f32';
  const mat = (m: Float64Array, shape: number[]) =>
    Tensor.from(dtype === 'f64' ? m : Float32Array.from(m), shape, dtype);
  // separable: rows first ([H, h] · [h, w·C]), then columns ([W, w] · [w, C] for each of the H rows)
  const rows = reshape(matmul(mat(resizeMatrix(h, H, kind), [H, h]), reshape(table, [h, w * C])), [H, w, C]);
  const both = matmul(mat(resizeMatrix(w, W, kind), [1, W, w]), rows); // (H, W, C)
  return reshape(both, [H * W, C]);
}
