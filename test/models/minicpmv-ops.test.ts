/**
 * The vision ops (tensor/ops-vision.ts): finite-difference gradients, closed forms, and the native
 * backend's unmasked (cross-)attention against the reference one.
 */
import { describe, expect, it } from 'vitest';
import { nativeBackend, refBackend } from '../../src/backends/index.js';
import * as T from '../../src/tensor/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { gradCheck, randomF64 } from '../helpers/gradcheck.js';

const rng = new Rng(99);
const r = (...shape: number[]): Tensor => randomF64(rng, shape);

function expectGrad(f: (xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  T.setBackend(refBackend());
  const res = gradCheck(f, inputs);
  expect(res.maxError, res.worst).toBeLessThan(1e-6);
}

describe('gradients match finite differences', () => {
  it('layerNorm (input, weight, bias)', () => {
    expectGrad(([x, w, b]) => T.layerNorm(x, w, b, 1e-6), [r(2, 3, 8), r(8), r(8)]);
  });
  it('linearBias', () => {
    expectGrad(([x, w, b]) => T.linearBias(x, w, b), [r(2, 3, 5), r(4, 5), r(4)]);
  });
  it('resizeGrid, antialiased (up and down) and plain bicubic', () => {
    expectGrad(([p]) => T.resizeGrid(p, [3, 3], [4, 5], 'antialias'), [r(9, 2)]);
    expectGrad(([p]) => T.resizeGrid(p, [5, 4], [2, 3], 'antialias'), [r(20, 2)]);
    expectGrad(([p]) => T.resizeGrid(p, [2, 2], [5, 3], 'plain'), [r(4, 3)]);
  });
  it('unmasked attention with fewer queries than keys (the resampler) and the vision block', () => {
    expectGrad(
      ([q, k, v]) => T.attention(q, k, v, { causal: false }),
      [r(2, 3, 2, 4), r(2, 7, 2, 4), r(2, 7, 2, 4)],
    );
    expectGrad(([x, ln, b]) => T.gelu(T.layerNorm(x, ln, b, 1e-6)), [r(1, 4, 6), r(6), r(6)]);
  });
});

describe('values', () => {
  it('layerNorm equals the closed form', () => {
    T.setBackend(refBackend());
    const x = Tensor.from(new Float64Array([1, 2, 3, 4, -1, 0, 1, 6]), [2, 4], 'f64');
    const w = Tensor.from(new Float64Array([1, 2, 1, 0.5]), [4], 'f64');
    const b = Tensor.from(new Float64Array([0, 1, 0, -1]), [4], 'f64');
    const y = T.layerNorm(x, w, b, 0).toArray();
    const row = [1, 2, 3, 4];
    const sd = Math.sqrt(1.25);
    row.forEach((v, i) =>
      expect(y[i]).toBeCloseTo(((v - 2.5) / sd) * [1, 2, 1, 0.5][i] + [0, 1, 0, -1][i], 12),
    );
  });

  it('resize matrices: rows sum to one, same size is the identity, plain bicubic interpolates linear ramps exactly', () => {
    for (const kind of ['antialias', 'plain'] as const) {
      for (const [n, m] of [
        [27, 32],
        [8, 32],
        [32, 27],
        [2, 8],
      ]) {
        const M = T.resizeMatrix(n, m, kind);
        for (let o = 0; o < m; o++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += M[o * n + j];
          expect(s).toBeCloseTo(1, 12);
        }
      }
      const I = T.resizeMatrix(6, 6, kind);
      for (let i = 0; i < 6; i++)
        for (let j = 0; j < 6; j++) expect(I[i * 6 + j]).toBeCloseTo(i === j ? 1 : 0, 14);
    }
    // torch's plain bicubic (A = −0.75) at t = ½: taps −0.09375, 0.59375, 0.59375, −0.09375, the first
    // clamped onto index 0; the antialiased filter (a = −0.5) halving 4 → 2 spreads over 8 source pixels.
    const M = Array.from(T.resizeMatrix(4, 2, 'plain'));
    expect(M.slice(0, 4)).toEqual([0.5, 0.59375, -0.09375, 0]);
    const A = T.resizeMatrix(8, 4, 'antialias');
    const w = [-0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375, 0];
    const total = w.reduce((a, b) => a + b, 0);
    // output 1 (centre 3): taps at 0..6, filter((j − 3 + ½)/2), normalised; index 7 is outside the support
    for (let j = 0; j < 8; j++) expect(A[8 + j]).toBeCloseTo(w[j] / total, 12);
  });
});

describe('fused layerNorm equals its composite of primitives', () => {
  for (const { name, backend } of [
    { name: 'ref', backend: refBackend() },
    { name: 'native', backend: nativeBackend() },
  ]) {
    it.skipIf(!backend)(`${name}: values and gradients, f32 and f64, odd widths`, () => {
      T.setBackend(backend!);
      for (const dtype of ['f32', 'f64'] as const) {
        for (const shape of [
          [3, 1],
          [2, 3, 7],
          [5, 1152],
        ]) {
          const d = shape[shape.length - 1];
          const mk = (s: number[], shift = 0) => T.cast(T.addScalar(r(...s), shift), dtype);
          const x = Tensor.parameter(mk(shape, 0.3));
          const w = Tensor.parameter(mk([d], 1));
          const b = Tensor.parameter(mk([d]));
          const probe = mk(shape);
          const grads = (fn: typeof T.layerNorm) => {
            [x, w, b].forEach((p) => (p.grad = null));
            const y = fn(x, w, b, 1e-6);
            T.backward(T.sum(T.mul(y, probe)));
            return [y, x.grad!, w.grad!, b.grad!].map((t) => t.toArray());
          };
          const fused = grads(T.layerNorm);
          const oracle = grads(T.layerNormComposite);
          const tol = dtype === 'f32' ? 2e-5 : 1e-12;
          fused.forEach((a, i) => {
            let m = 0;
            let s = 0;
            for (let k = 0; k < a.length; k++) {
              m = Math.max(m, Math.abs(a[k] - oracle[i][k]));
              s = Math.max(s, Math.abs(oracle[i][k]));
            }
            expect(m, `${dtype} ${shape.join('x')} output ${i}`).toBeLessThanOrEqual(tol * Math.max(1, s));
          });
        }
      }
    });
  }
});

describe.skipIf(!nativeBackend())('native unmasked attention equals the reference', () => {
  it('on shapes with T ≠ S and odd head sizes', () => {
    for (const [B, Tq, S, H, D] of [
      [1, 4, 64, 2, 128],
      [2, 3, 17, 3, 5],
      [1, 33, 33, 4, 8],
    ]) {
      const mk = (...shape: number[]) => T.cast(r(...shape), 'f32');
      T.setBackend(refBackend());
      const q = mk(B, Tq, H, D);
      const k = mk(B, S, H, D);
      const v = mk(B, S, H, D);
      const want = T.attention(q, k, v, { causal: false }).toArray();
      T.setBackend(nativeBackend()!);
      const got = T.attention(q, k, v, { causal: false }).toArray();
      let m = 0;
      for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
      expect(m).toBeLessThan(1e-5);
    }
  });
});
