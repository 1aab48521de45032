/**
 * LayerNorm with bias over the last axis, forward and hand-written backward (row loops in f64
 * accumulators). The composite of primitives in tensor/ops-vision.ts (`layerNormComposite`) is its
 * test oracle; fused, it reads x twice instead of a dozen broadcast passes.
 */
import { Tensor, type FloatArray } from '../../tensor/index.js';
import { withContiguous } from './nn.js';

const f = (t: Tensor): FloatArray => t.data as FloatArray;

/** y = (x − mean)·rstd ⊙ weight + bias; also returns mean and rstd per row for the backward. */
export function layerNorm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  eps: number,
): { y: Tensor; mean: Tensor; rstd: Tensor } {
  return withContiguous([x, weight, bias], (xc, w, b) => {
    const D = xc.shape[xc.rank - 1];
    const rows = D === 0 ? 0 : xc.size / D;
    const y = Tensor.empty(xc.shape, xc.dtype);
    const mean = Tensor.empty(xc.shape.slice(0, -1), xc.dtype);
    const rstd = Tensor.empty(xc.shape.slice(0, -1), xc.dtype);
    const [X, W, B, Y, M, R] = [f(xc), f(w), f(b), f(y), f(mean), f(rstd)];
    for (let r = 0; r < rows; r++) {
      const o = xc.offset + r * D;
      let s = 0;
      for (let i = 0; i < D; i++) s += X[o + i];
      const mu = s / D;
      let ss = 0;
      for (let i = 0; i < D; i++) {
        const c = X[o + i] - mu;
        ss += c * c;
      }
      const rs = 1 / Math.sqrt(ss / D + eps);
      M[r] = mu;
      R[r] = rs;
      for (let i = 0; i < D; i++) Y[r * D + i] = (X[o + i] - mu) * rs * W[w.offset + i] + B[b.offset + i];
    }
    return { y, mean, rstd };
  });
}

/**
 * With x̂ = (x − mean)·rstd and g = dy ⊙ weight: dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)),
 * dweight = Σ_rows dy ⊙ x̂, dbias = Σ_rows dy.
 */
export function layerNormGrad(
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  dy: Tensor,
): { dx: Tensor; dweight: Tensor; dbias: Tensor } {
  return withContiguous([x, weight, mean, rstd, dy], (xc, w, mc, rc, dyc) => {
    const D = xc.shape[xc.rank - 1];
    const rows = D === 0 ? 0 : xc.size / D;
    const dx = Tensor.empty(xc.shape, xc.dtype);
    const dweight = Tensor.zeros([D], xc.dtype);
    const dbias = Tensor.zeros([D], xc.dtype);
    const [X, W, M, R, DY, DX] = [f(xc), f(w), f(mc), f(rc), f(dyc), f(dx)];
    const accW = new Float64Array(D);
    const accB = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      const ox = xc.offset + r * D;
      const od = dyc.offset + r * D;
      const mu = M[mc.offset + r];
      const rs = R[rc.offset + r];
      let sg = 0;
      let sgx = 0;
      for (let i = 0; i < D; i++) {
        const xh = (X[ox + i] - mu) * rs;
        const d = DY[od + i];
        const g = d * W[w.offset + i];
        sg += g;
        sgx += g * xh;
        accW[i] += d * xh;
        accB[i] += d;
      }
      sg /= D;
      sgx /= D;
      for (let i = 0; i < D; i++) {
        const xh = (X[ox + i] - mu) * rs;
        DX[r * D + i] = rs * (DY[od + i] * W[w.offset + i] - sg - xh * sgx);
      }
    }
    const [DW, DB] = [f(dweight), f(dbias)];
    for (let i = 0; i < D; i++) {
      DW[i] = accW[i];
      DB[i] = accB[i];
    }
    return { dx, dweight, dbias };
  });
}
