/** Forward values against closed forms, plus views, broadcasting, errors and autodiff plumbing. */
import { describe, expect, it } from 'vitest';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

const f32 = (a: number[], shape: number[]): Tensor => Tensor.from(Float32Array.from(a), shape);
const close = (a: number[], b: number[], tol = 1e-5): void => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]), `element ${i}: ${v} vs ${b[i]}`).toBeLessThan(tol));
};

for (const { name, backend } of backendCases()) {
  describe.skipIf(!backend)(`ops on ${name}`, () => {
    it('elementwise with broadcasting and strided views', () => {
      install(backend);
      const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = f32([10, 20, 30], [3]);
      close(T.add(a, b).toArray(), [11, 22, 33, 14, 25, 36]);
      close(T.mul(T.transpose(a), f32([1, 2], [2])).toArray(), [1, 8, 2, 10, 3, 12]);
      close(T.gelu(f32([-1, 0, 1], [3])).toArray(), [-0.158655254, 0, 0.841344746]);
      close(T.silu(f32([-1, 0, 2], [3])).toArray(), [-0.268941421, 0, 1.761594156]);
    });

    it('reductions', () => {
      install(backend);
      const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
      close(T.sum(a).toArray(), [21]);
      close(T.sum(a, 0).toArray(), [5, 7, 9]);
      close(T.mean(a, 1, true).toArray(), [2, 5]);
      close(T.max(a, 1).toArray(), [3, 6]);
      expect(T.sum(a, 1, true).shape).toEqual([2, 1]);
    });

    it('matmul with transposes, batches and broadcast weights', () => {
      install(backend);
      const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = f32([1, 0, 0, 1, 1, 1], [3, 2]);
      close(T.matmul(a, b).toArray(), [4, 5, 10, 11]);
      close(T.matmul(a, a, false, true).toArray(), [14, 32, 32, 77]);
      close(T.matmul(a, a, true, false).toArray(), [17, 22, 27, 22, 29, 36, 27, 36, 45]);
      const batch = T.reshape(T.concat([a, a], 0), [2, 2, 3]);
      close(T.matmul(batch, b).toArray(), [4, 5, 10, 11, 4, 5, 10, 11]);
    });

    it('linears equals one linear per weight (fused or not, f32 and bf16 weights, with gradients)', () => {
      install(backend);
      const rng = new T.Rng(3);
      const rand = (shape: number[]) =>
        f32(
          Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.normal()),
          shape,
        );
      for (const K of [1, 7, 67]) {
        const ws = [rand([5, K]), rand([3, K]), rand([70, K])];
        for (const dt of ['f32', 'bf16'] as const) {
          const w = dt === 'f32' ? ws : ws.map((t) => T.cast(t, 'bf16'));
          for (const shape of [
            [1, 1, K],
            [1, K],
            [2, 3, K],
          ]) {
            const x = rand(shape);
            const got = T.noGrad(() => T.linears(x, w));
            const want = w.map((wi) => T.linear(x, wi));
            got.forEach((g, i) => {
              expect(g.shape).toEqual(want[i].shape);
              // the same row kernel either way: identical, not just close
              expect(g.toArray()).toEqual(want[i].toArray());
            });
          }
        }
      }
      expect(() => T.noGrad(() => T.linears(rand([4]), [rand([2, 4]), rand([3, 4])]))).toThrow(/rank/);
      // with gradients it records one matmul per weight, so the backward reaches every weight
      const x = T.Tensor.parameter(rand([1, 1, 4]));
      const w = [T.Tensor.parameter(rand([2, 4])), T.Tensor.parameter(rand([3, 4]))];
      const [a, b] = T.linears(x, w);
      T.backward(T.add(T.sum(a), T.sum(b)));
      expect(w.every((p) => p.grad !== null) && x.grad !== null).toBe(true);
    });

    it('softmax, logSoftmax, crossEntropy agree with closed forms', () => {
      install(backend);
      const x = f32([1, 2, 3], [1, 3]);
      const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
      close(T.softmax(x).toArray(), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z]);
      close(T.logSoftmax(x).toArray(), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)]);
      const targets = Tensor.from(new Int32Array([2, -100]), [2], 'i32');
      const loss = T.crossEntropy(T.concat([x, x], 0), targets);
      close([loss.item()], [Math.log(z) - 3]);
    });

    it('rmsNorm, swiglu, rope at position 0 is the identity', () => {
      install(backend);
      const x = f32([3, 4], [1, 2]);
      const g = f32([1, 2], [2]);
      const rms = Math.sqrt((9 + 16) / 2);
      close(T.rmsNorm(x, g, 0).toArray(), [3 / rms, 8 / rms]);
      close(T.swiglu(f32([0, 1], [2]), f32([5, 2], [2])).toArray(), [0, 2 / (1 + Math.exp(-1))]);
      const q = f32([1, 2, 3, 4], [1, 1, 1, 4]);
      const cos = f32([1, 1], [1, 2]);
      const sin = f32([0, 0], [1, 2]);
      close(T.rope(q, cos, sin, 0).toArray(), [1, 2, 3, 4]);
    });

    it('attention of one key returns its value; causal rows ignore the future', () => {
      install(backend);
      const q = f32([1, 0, 0, 1], [1, 2, 1, 2]);
      const k = f32([1, 0, 0, 1], [1, 2, 1, 2]);
      const v = f32([5, 6, 7, 8], [1, 2, 1, 2]);
      const out = T.attention(q, k, v).toArray();
      close(out.slice(0, 2), [5, 6]);
      const s = 1 / Math.sqrt(2);
      const p0 = 1 / (1 + Math.exp(s));
      close(out.slice(2), [p0 * 5 + (1 - p0) * 7, p0 * 6 + (1 - p0) * 8]);
    });

    it('views share storage; reshape of a transposed view copies', () => {
      install(backend);
      const a = f32([1, 2, 3, 4, 5, 6], [2, 3]);
      const t = T.transpose(a);
      expect(t.storage).toBe(a.storage);
      close(T.reshape(t, [6]).toArray(), [1, 4, 2, 5, 3, 6]);
      close(T.slice(a, 1, 1, 3).toArray(), [2, 3, 5, 6]);
      close(T.expand(f32([7], [1]), [3]).toArray(), [7, 7, 7]);
    });

    it('bf16 and f16 casts round to nearest even', () => {
      install(backend);
      const x = f32([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 1e-7], [5]);
      close(T.cast(T.cast(x, 'bf16'), 'f32').toArray().slice(0, 4), [1, 1, 1 + 2 ** -6, 65536], 1e-12);
      close(
        T.cast(T.cast(x, 'f16'), 'f32').toArray(),
        [1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 2 ** -23],
        1e-12,
      );
    });
  });
}

describe('engine plumbing', () => {
  it('gradients accumulate across backward calls and zeroGrad clears them', () => {
    install(backendCases()[0].backend);
    const w = Tensor.parameter(Tensor.from(Float32Array.from([1, 2]), [2]));
    T.backward(T.sum(T.mul(w, w)));
    T.backward(T.sum(T.mul(w, w)));
    expect(w.grad!.toArray()).toEqual([4, 8]);
    T.zeroGrad([w]);
    expect(w.grad).toBeNull();
    expect(w.kind).toBe('parameter');
  });

  it('noGrad records nothing; a disposed tensor says how to keep it', () => {
    install(backendCases()[0].backend);
    const w = Tensor.parameter(Tensor.from(Float32Array.from([1, 2]), [2]));
    const y = T.noGrad(() => T.mul(w, w));
    expect(y.requiresGrad).toBe(false);
    const inner = T.scope(() => {
      T.mul(w, w);
      return T.add(w, w);
    });
    expect(inner.toArray()).toEqual([2, 4]);
    let leaked: Tensor | null = null;
    T.scope(() => {
      leaked = T.mul(w, w);
    });
    expect(() => leaked!.toArray()).toThrow(/scope that has ended/);
  });

  it('shape and dtype errors are typed and say what to do', () => {
    install(backendCases()[0].backend);
    const a = Tensor.zeros([2, 3]);
    expect(() => T.matmul(a, a)).toThrow(T.ShapeError);
    expect(() => T.add(a, Tensor.zeros([4]))).toThrow(/cannot broadcast/);
    expect(() => T.add(a, Tensor.zeros([2, 3], 'i32'))).toThrow(T.DTypeError);
    const ids = Tensor.from(new Int32Array([5]), [1], 'i32');
    expect(() => T.embedding(Tensor.zeros([3, 2]), ids)).toThrow(/outside \[0, 3\)/);
  });
});
