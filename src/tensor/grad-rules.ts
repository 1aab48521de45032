/**
 * The gradient table: one rule per op of the closed set (op-names.ts). The mapped type makes a new op
 * fail to compile until it gets a rule here or an explicit 'not-differentiable'. Rules run under noGrad.
 */
import { installGradTable, type GradTable } from './autograd.js';
import { getBackend } from './backend.js';
import { add, cast, compare, div, mul, mulScalar, neg, powScalar, where } from './ops-elementwise.js';
import { embedding, rowBlock, scatterAddRows } from './ops-nn.js';
import { matmul, sum } from './ops-reduce.js';

import { contiguous, expand, permute, reshape } from './ops-shape.js';
import { sameShape } from './shape.js';
import { Tensor } from './tensor.js';

/** Sums a broadcast gradient back down to `shape`. */
export function reduceTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(sum(g, axes, true), shape);
}

function matmulGrads(
  a: Tensor,
  b: Tensor,
  dc: Tensor,
  tA: boolean,
  tB: boolean,
): [Tensor | null, Tensor | null] {
  // A frozen operand (e.g. a LoRA base weight) gets no product: half the backward GEMMs of a linear.
  let da: Tensor | null;
  if (!a.requiresGrad) da = null;
  else if (!tA) da = tB ? matmul(dc, b, false, false) : matmul(dc, b, false, true);
  else da = tB ? matmul(b, dc, true, true) : matmul(b, dc, false, true);
  let db: Tensor | null;
  if (!b.requiresGrad) db = null;
  else if (b.rank === 2 && a.rank > 2 && !tA) {
    // A shared weight: fold every batch row into one GEMM instead of summing per-batch products.
    const k = a.shape[a.rank - 1];
    const a2 = reshape(a, [-1, k]);
    const dc2 = reshape(dc, [-1, dc.shape[dc.rank - 1]]);
    db = tB ? matmul(dc2, a2, true, false) : matmul(a2, dc2, true, false);
  } else if (!tB) db = tA ? matmul(a, dc, false, false) : matmul(a, dc, true, false);
  else db = tA ? matmul(dc, a, true, true) : matmul(dc, a, true, false);
  return [da && reduceTo(da, a.shape), db && reduceTo(db, b.shape)];
}

/** Re-inserts reduced axes as size-1 dims so a reduced tensor broadcasts against its input. */
function keepdims(t: Tensor, inputShape: readonly number[], axes: number[], keepdim: boolean): Tensor {
  if (keepdim) return t;
  const shape = inputShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return reshape(t, shape);
}

const rules: GradTable = {
  unary: (n, dy, out) => [getBackend().unaryGrad(n.attrs.op, n.inputs[0], out, dy)],
  binary: (n, dy) => {
    const [a, b] = n.inputs;
    switch (n.attrs.op) {
      case 'add':
        return [reduceTo(dy, a.shape), reduceTo(dy, b.shape)];
      case 'sub':
        return [reduceTo(dy, a.shape), reduceTo(neg(dy), b.shape)];
      case 'mul':
        return [reduceTo(mul(dy, b), a.shape), reduceTo(mul(dy, a), b.shape)];
      case 'div': {
        const da = div(dy, b);
        return [reduceTo(da, a.shape), reduceTo(neg(mul(da, div(a, b))), b.shape)];
      }
      case 'maximum':
      case 'minimum': {
        // Ties split the gradient evenly, as PyTorch does.
        const winA = compare(n.attrs.op === 'maximum' ? 'gt' : 'lt', a, b);
        const tie = mulScalar(compare('eq', a, b), 0.5);
        const wa = add(winA, tie);
        const wb = add(compare(n.attrs.op === 'maximum' ? 'lt' : 'gt', a, b), tie);
        return [reduceTo(mul(dy, wa), a.shape), reduceTo(mul(dy, wb), b.shape)];
      }
    }
  },
  compare: 'not-differentiable',
  addScalar: (_n, dy) => [dy],
  mulScalar: (n, dy) => [mulScalar(dy, n.attrs.value)],
  powScalar: (n, dy) => [mul(dy, mulScalar(powScalar(n.inputs[0], n.attrs.value - 1), n.attrs.value))],
  sum: (n, dy) => {
    const x = n.inputs[0];
    return [contiguous(expand(keepdims(dy, x.shape, n.attrs.axes, n.attrs.keepdim), x.shape))];
  },
  max: (n, dy, out) => {
    const x = n.inputs[0];
    const m = keepdims(out, x.shape, n.attrs.axes, n.attrs.keepdim);
    const hit = compare('eq', x, m);
    const count = sum(hit, n.attrs.axes, true);
    return [mul(hit, div(keepdims(dy, x.shape, n.attrs.axes, n.attrs.keepdim), count))];
  },
  matmul: (n, dy) => matmulGrads(n.inputs[0], n.inputs[1], dy, n.attrs.transA, n.attrs.transB),
  frozenLinear: (n, dy) => [n.attrs.inputGrad(dy)],
  checkpoint: (n, dy) => [n.attrs.inputGrad(dy)],
  precomputedGrad: (n, dy) => [n.attrs.inputGrad(dy)],
  reshape: (n, dy) => [reshape(dy, n.inputs[0].shape)],
  permute: (n, dy) => {
    const inverse = new Array<number>(n.attrs.dims.length);
    n.attrs.dims.forEach((d, i) => (inverse[d] = i));
    return [contiguous(permute(dy, inverse))];
  },
  expand: (n, dy) => [reduceTo(dy, n.inputs[0].shape)],
  slice: (n, dy) => {
    const x = n.inputs[0];
    const dx = Tensor.zeros(x.shape, dy.dtype);
    const { axis, start } = n.attrs;
    getBackend().assign(dx.view(dy.shape, dx.strides, start * dx.strides[axis]), dy);
    return [dx];
  },
  contiguous: (_n, dy) => [dy],
  concat: (n, dy) => {
    let at = 0;
    const axis = n.attrs.axis;
    return n.inputs.map((x) => {
      const part = dy.view(x.shape, dy.strides, dy.offset + at * dy.strides[axis]);
      at += x.shape[axis];
      return getBackend().contiguous(part);
    });
  },
  cast: (n, dy) => {
    const x = n.inputs[0];
    return [x.dtype === 'f32' || x.dtype === 'f64' ? cast(dy, x.dtype) : null];
  },
  where: (n, dy) => {
    const [cond, a, b] = n.inputs;
    const zero = Tensor.zeros([], dy.dtype);
    return [null, reduceTo(where(cond, dy, zero), a.shape), reduceTo(where(cond, zero, dy), b.shape)];
  },
  embedding: (n, dy) => {
    const [w, ids] = n.inputs;
    const flatIds = reshape(ids, [-1]);
    const base = Tensor.zeros(w.shape, dy.dtype);
    return [scatterAddRows(base, flatIds, reshape(dy, [-1, w.shape[1]])), null];
  },
  scatterAddRows: (n, dy) => [dy, null, embedding(dy, n.inputs[1])],
  softmax: (_n, dy, out) => [getBackend().softmaxGrad(out, dy)],
  logSoftmax: (_n, dy, out) => [getBackend().logSoftmaxGrad(out, dy)],
  rmsNorm: (n, dy) => {
    const { dx, dgain } = getBackend().rmsNormGrad(n.inputs[0], n.inputs[1], n.saved[0], dy);
    return [dx, dgain];
  },
  layerNorm: (n, dy) => {
    const [x, w] = n.inputs;
    const { dx, dweight, dbias } = getBackend().layerNormGrad(x, w, n.saved[0], n.saved[1], dy);
    return [dx, dweight, dbias];
  },
  rope: (n, dy) => {
    const [, cos, sin] = n.inputs;
    return [getBackend().rope(dy, cos, sin, n.attrs.posOffset, n.attrs.layout, true), null, null];
  },
  attention: (n, dy, out) => {
    const [q, k, v, mask] = n.inputs;
    const { dq, dk, dv } = getBackend().attentionGrad(q, k, v, mask ?? null, out, n.saved[0], dy, n.attrs);
    return mask ? [dq, dk, dv, null] : [dq, dk, dv];
  },
  swiglu: (n, dy) => {
    const { dgate, dup } = getBackend().swigluGrad(n.inputs[0], n.inputs[1], dy);
    return [dgate, dup];
  },
  sequenceCrossEntropy: (n, dy) => {
    const [logits, targets] = n.inputs;
    const { rows, ignoreIndex } = n.attrs;
    const T = logits.shape[0] / rows;
    const b = getBackend();
    const d = dy.toArray();
    const dl = Tensor.zeros(logits.shape, logits.dtype);
    const block = rowBlock(T);
    for (let r = 0; r < rows; r++) {
      const count = n.extra?.[`count${r}`] ?? 0;
      if (count === 0 || d[r] === 0) continue;
      // crossEntropyGrad scales by dloss / count: dloss = dy·count gives the sum's gradient
      const g = b.crossEntropyGrad(
        block(logits, r),
        block(targets, r),
        n.saved[r],
        d[r] * count,
        ignoreIndex,
      );
      b.assign(block(dl, r), g);
      g.dispose();
    }
    return [dl, null];
  },
  crossEntropy: (n, dy) => {
    const [logits, targets] = n.inputs;
    const dl = getBackend().crossEntropyGrad(logits, targets, n.saved[0], dy.item(), n.attrs.ignoreIndex);
    return [dl, null];
  },
};

installGradTable(rules);
