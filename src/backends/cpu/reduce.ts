/** Reference reductions: consecutive reduced axes collapse into one [outer, r, inner] pass. */
import { contiguousStrides, Tensor, type FloatArray, type ReduceOp } from '../../tensor/index.js';
import { contiguous } from './elementwise.js';
import type { NativeNn } from './native-nn.js';

function reduceRun(
  src: FloatArray,
  outer: number,
  r: number,
  inner: number,
  op: ReduceOp,
  dst: FloatArray,
): void {
  for (let o = 0; o < outer; o++) {
    const base = o * r * inner;
    for (let i = 0; i < inner; i++) {
      let acc = op === 'sum' ? 0 : -Infinity;
      for (let k = 0; k < r; k++) {
        const v = src[base + k * inner + i];
        if (op === 'sum') acc += v;
        else if (v > acc || Number.isNaN(v)) acc = v;
      }
      dst[o * inner + i] = acc;
    }
  }
}

export function reduce(
  op: ReduceOp,
  x: Tensor,
  axes: number[],
  keepdim: boolean,
  fast: NativeNn | null = null,
): Tensor {
  let cur = x.isContiguous() && x.offset === 0 ? x : contiguous(x);
  const shape = [...x.shape];
  // Runs of consecutive axes, processed from the last so earlier axis numbers stay valid.
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  for (let k = runs.length - 1; k >= 0; k--) {
    const [s, e] = runs[k];
    const outer = shape.slice(0, s).reduce((p, d) => p * d, 1);
    const r = shape.slice(s, e).reduce((p, d) => p * d, 1);
    const inner = shape.slice(e).reduce((p, d) => p * d, 1);
    for (let i = s; i < e; i++) shape[i] = 1;
    const next = Tensor.empty(shape, x.dtype);
    if (fast) fast.reduceRun(op, cur.data as Float32Array, 0, outer, r, inner, next.data as Float32Array);
    else reduceRun(cur.data as FloatArray, outer, r, inner, op, next.data as FloatArray);
    if (cur !== x) cur.dispose();
    cur = next;
  }
  if (cur === x) cur = contiguous(x);
  const outShape = keepdim ? shape : x.shape.filter((_, i) => !axes.includes(i));
  if (outShape.length === cur.rank) return cur;
  const out = cur.view(outShape, contiguousStrides(outShape), 0);
  cur.dispose();
  return out;
}
