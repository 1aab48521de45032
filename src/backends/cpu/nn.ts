/** Reference kernels for the fused NN ops (rows = every dim but the last). Inputs made contiguous first. */
import {
  Tensor,
  ShapeError,
  type AdamWHyper,
  type FloatArray,
  type RopeLayout,
} from '../../tensor/index.js';
import { contiguous } from './elementwise.js';
import { sigmoid } from './math.js';

/** Runs fn on contiguous versions of the inputs, disposing any copies afterwards. */
export function withContiguous<R>(ts: Tensor[], fn: (...c: Tensor[]) => R): R {
  const cs = ts.map((t) => (t.isContiguous() ? t : contiguous(t)));
  try {
    return fn(...cs);
  } finally {
    cs.forEach((c, i) => c !== ts[i] && c.dispose());
  }
}

const f = (t: Tensor): FloatArray => t.data as FloatArray;

export function softmax(x: Tensor, log: boolean): Tensor {
  return withContiguous([x], (xc) => {
    const V = xc.shape[xc.rank - 1];
    const rows = V === 0 ? 0 : xc.size / V;
    const out = Tensor.empty(xc.shape, xc.dtype);
    const X = f(xc);
    const Y = f(out);
    const o = xc.offset;
    for (let r = 0; r < rows; r++) {
      const base = r * V;
      let m = -Infinity;
      for (let i = 0; i < V; i++) m = Math.max(m, X[o + base + i]);
      let s = 0;
      for (let i = 0; i < V; i++) s += Math.exp(X[o + base + i] - m);
      if (log) {
        const lse = m + Math.log(s);
        for (let i = 0; i < V; i++) Y[base + i] = X[o + base + i] - lse;
      } else {
        for (let i = 0; i < V; i++) Y[base + i] = Math.exp(X[o + base + i] - m) / s;
      }
    }
    return out;
  });
}

/** dx = y ⊙ (dy − Σ dy⊙y) for softmax; dx = dy − exp(y)·Σ dy for log-softmax. */
export function softmaxGrad(y: Tensor, dy: Tensor, log: boolean): Tensor {
  return withContiguous([y, dy], (yc, dyc) => {
    const V = yc.shape[yc.rank - 1];
    const rows = V === 0 ? 0 : yc.size / V;
    const out = Tensor.empty(yc.shape, yc.dtype);
    const [Y, D, O] = [f(yc), f(dyc), f(out)];
    const [oy, od] = [yc.offset, dyc.offset];
    for (let r = 0; r < rows; r++) {
      const b = r * V;
      let s = 0;
      if (log) {
        for (let i = 0; i < V; i++) s += D[od + b + i];
        for (let i = 0; i < V; i++) O[b + i] = D[od + b + i] - Math.exp(Y[oy + b + i]) * s;
      } else {
        for (let i = 0; i < V; i++) s += D[od + b + i] * Y[oy + b + i];
        for (let i = 0; i < V; i++) O[b + i] = Y[oy + b + i] * (D[od + b + i] - s);
      }
    }
    return out;
  });
}

function checkIds(ids: Int32Array, off: number, n: number, V: number, what: string): void {
  for (let i = 0; i < n; i++) {
    const id = ids[off + i];
    if (id < 0 || id >= V) throw new ShapeError(`${what}: id ${id} at position ${i} is outside [0, ${V})`);
  }
}

export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return withContiguous([weight, ids], (w, idc) => {
    const [V, D] = w.shape;
    const n = idc.size;
    const I = idc.data as Int32Array;
    checkIds(I, idc.offset, n, V, 'embedding');
    // bf16 tables (inference weights) are widened to f32 rows.
    const out = Tensor.empty([...idc.shape, D], w.dtype === 'bf16' ? 'f32' : w.dtype);
    const W = w.data;
    const O = out.data;
    if (w.dtype === 'bf16') {
      // bf16 bits are the high half of the f32 bits: shift them into a u32 view of the output (a
      // per-element bf16ToF32 over the union-typed arrays ran megamorphic, ~5% of a bf16 prefill)
      const Wb = W as Uint16Array;
      const O32 = new Uint32Array(O.buffer, O.byteOffset, n * D);
      for (let i = 0; i < n; i++) {
        const src = w.offset + I[idc.offset + i] * D;
        for (let k = 0; k < D; k++) O32[i * D + k] = Wb[src + k] << 16;
      }
      return out;
    }
    for (let i = 0; i < n; i++) {
      const row = I[idc.offset + i];
      O.set(W.subarray(w.offset + row * D, w.offset + row * D + D), i * D);
    }
    return out;
  });
}

export function scatterAddRows(base: Tensor, ids: Tensor, src: Tensor): Tensor {
  return withContiguous([ids, src], (idc, s) => {
    const out = contiguous(base);
    const [V, D] = out.shape;
    const I = idc.data as Int32Array;
    checkIds(I, idc.offset, idc.size, V, 'scatterAddRows');
    const O = f(out);
    const S = f(s);
    for (let i = 0; i < idc.size; i++) {
      const row = I[idc.offset + i] * D;
      const sr = s.offset + i * D;
      for (let k = 0; k < D; k++) O[row + k] += S[sr + k];
    }
    return out;
  });
}

export function rmsNorm(x: Tensor, gain: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
  return withContiguous([x, gain], (xc, g) => {
    const D = xc.shape[xc.rank - 1];
    const rows = D === 0 ? 0 : xc.size / D;
    const y = Tensor.empty(xc.shape, xc.dtype);
    const rstd = Tensor.empty(xc.shape.slice(0, -1), xc.dtype);
    const [X, G, Y, R] = [f(xc), f(g), f(y), f(rstd)];
    for (let r = 0; r < rows; r++) {
      const b = xc.offset + r * D;
      let ss = 0;
      for (let i = 0; i < D; i++) ss += X[b + i] * X[b + i];
      const rs = 1 / Math.sqrt(ss / D + eps);
      R[r] = rs;
      for (let i = 0; i < D; i++) Y[r * D + i] = X[b + i] * rs * G[g.offset + i];
    }
    return { y, rstd };
  });
}

/** With x̂ = x·rstd: dx = rstd·(dy⊙g − x̂·mean(dy⊙g⊙x̂)), dgain = Σ_rows dy⊙x̂. */
export function rmsNormGrad(
  x: Tensor,
  gain: Tensor,
  rstd: Tensor,
  dy: Tensor,
): { dx: Tensor; dgain: Tensor } {
  return withContiguous([x, gain, rstd, dy], (xc, g, rc, dyc) => {
    const D = xc.shape[xc.rank - 1];
    const rows = D === 0 ? 0 : xc.size / D;
    const dx = Tensor.empty(xc.shape, xc.dtype);
    const dgain = Tensor.zeros([D], xc.dtype);
    const [X, G, R, DY, DX, DG] = [f(xc), f(g), f(rc), f(dyc), f(dx), f(dgain)];
    const acc = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      const bx = xc.offset + r * D;
      const bd = dyc.offset + r * D;
      const rs = R[rc.offset + r];
      let dot = 0;
      for (let i = 0; i < D; i++) {
        const xh = X[bx + i] * rs;
        dot += DY[bd + i] * G[g.offset + i] * xh;
        acc[i] += DY[bd + i] * xh;
      }
      dot /= D;
      for (let i = 0; i < D; i++) DX[r * D + i] = rs * (DY[bd + i] * G[g.offset + i] - X[bx + i] * rs * dot);
    }
    for (let i = 0; i < D; i++) DG[i] = acc[i];
    return { dx, dgain };
  });
}

export function rope(
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  posOffset: number,
  layout: RopeLayout,
  inverse: boolean,
): Tensor {
  return withContiguous([x, cos, sin], (xc, cc, sc) => {
    const [B, T, H, D] = xc.shape;
    const half = D / 2;
    const out = Tensor.empty(xc.shape, xc.dtype);
    const [X, C, S, O] = [f(xc), f(cc), f(sc), f(out)];
    const sign = inverse ? -1 : 1;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const tab = (posOffset + t) * half;
        for (let h = 0; h < H; h++) {
          const base = ((b * T + t) * H + h) * D;
          for (let i = 0; i < half; i++) {
            const c = C[cc.offset + tab + i];
            const s = sign * S[sc.offset + tab + i];
            const [i1, i2] = layout === 'half' ? [i, i + half] : [2 * i, 2 * i + 1];
            const x1 = X[xc.offset + base + i1];
            const x2 = X[xc.offset + base + i2];
            O[base + i1] = x1 * c - x2 * s;
            O[base + i2] = x2 * c + x1 * s;
          }
        }
      }
    }
    return out;
  });
}

export function swiglu(gate: Tensor, up: Tensor): Tensor {
  return withContiguous([gate, up], (g, u) => {
    const out = Tensor.empty(g.shape, g.dtype);
    const [G, U, O] = [f(g), f(u), f(out)];
    for (let i = 0; i < g.size; i++) {
      const x = G[g.offset + i];
      O[i] = x * sigmoid(x) * U[u.offset + i];
    }
    return out;
  });
}

export function swigluGrad(gate: Tensor, up: Tensor, dy: Tensor): { dgate: Tensor; dup: Tensor } {
  return withContiguous([gate, up, dy], (g, u, d) => {
    const dgate = Tensor.empty(g.shape, g.dtype);
    const dup = Tensor.empty(g.shape, g.dtype);
    const [G, U, DY, DG, DU] = [f(g), f(u), f(d), f(dgate), f(dup)];
    for (let i = 0; i < g.size; i++) {
      const x = G[g.offset + i];
      const s = sigmoid(x);
      const dyi = DY[d.offset + i];
      DU[i] = dyi * x * s;
      DG[i] = dyi * U[u.offset + i] * (s + x * s * (1 - s));
    }
    return { dgate, dup };
  });
}

export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  ignoreIndex: number,
): { loss: Tensor; lse: Tensor; count: number } {
  return withContiguous([logits, targets], (l, t) => {
    const [N, V] = l.shape;
    const L = f(l);
    const Tg = t.data as Int32Array;
    const lse = Tensor.empty([N], l.dtype);
    const LS = f(lse);
    let total = 0;
    let count = 0;
    for (let r = 0; r < N; r++) {
      const b = l.offset + r * V;
      let m = -Infinity;
      for (let i = 0; i < V; i++) m = Math.max(m, L[b + i]);
      let s = 0;
      for (let i = 0; i < V; i++) s += Math.exp(L[b + i] - m);
      LS[r] = m + Math.log(s);
      const tg = Tg[t.offset + r];
      if (tg === ignoreIndex) continue;
      if (tg < 0 || tg >= V)
        throw new ShapeError(
          `crossEntropy: target ${tg} at row ${r} is outside [0, ${V}) and is not the ignore index ${ignoreIndex}`,
        );
      total += m + Math.log(s) - L[b + tg];
      count++;
    }
    // No target to predict gives loss 0 (and zero gradients), not NaN.
    const loss = Tensor.full([], count ? total / count : 0, l.dtype);
    return { loss, lse, count };
  });
}

export function crossEntropyGrad(
  logits: Tensor,
  targets: Tensor,
  lse: Tensor,
  dloss: number,
  ignoreIndex: number,
): Tensor {
  return withContiguous([logits, targets, lse], (l, t, ls) => {
    const [N, V] = l.shape;
    const L = f(l);
    const Tg = t.data as Int32Array;
    const LS = f(ls);
    let count = 0;
    for (let r = 0; r < N; r++) if (Tg[t.offset + r] !== ignoreIndex) count++;
    const out = Tensor.empty([N, V], l.dtype);
    const O = f(out);
    const scale = count ? dloss / count : 0;
    for (let r = 0; r < N; r++) {
      const tg = Tg[t.offset + r];
      const b = r * V;
      if (tg === ignoreIndex) {
        O.fill(0, b, b + V);
        continue;
      }
      const z = LS[ls.offset + r];
      for (let i = 0; i < V; i++) O[b + i] = Math.exp(L[l.offset + b + i] - z) * scale;
      O[b + tg] -= scale;
    }
    return out;
  });
}

export function adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWHyper): void {
  for (const t of [param, grad, m, v]) {
    if (!t.isContiguous()) throw new ShapeError('adamw needs contiguous param, grad and moment tensors');
  }
  const [P, G, M, Vv] = [f(param), f(grad), f(m), f(v)];
  const { lr, beta1, beta2, eps, weightDecay, step } = hp;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const decay = 1 - lr * weightDecay;
  for (let i = 0; i < param.size; i++) {
    const g = G[grad.offset + i];
    const mi = (M[m.offset + i] = beta1 * M[m.offset + i] + (1 - beta1) * g);
    const vi = (Vv[v.offset + i] = beta2 * Vv[v.offset + i] + (1 - beta2) * g * g);
    P[param.offset + i] = P[param.offset + i] * decay - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
  }
}
