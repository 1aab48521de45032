/** Finite-difference checks (float64) of the gradient rule of every differentiable op. */
import { describe, expect, it } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import * as T from '../../src/tensor/index.js';
import { Rng, Tensor, type UnaryOp, type BinaryOp } from '../../src/tensor/index.js';
import { gradCheck, randomF64 } from '../helpers/gradcheck.js';

T.setBackend(refBackend());
const rng = new Rng(1234);
const r = (...shape: number[]): Tensor => randomF64(rng, shape);
const pos = (...shape: number[]): Tensor => T.addScalar(T.abs(r(...shape)), 0.5);
const TOL = 1e-6;

function expectGrad(f: (xs: Tensor[]) => Tensor, inputs: Tensor[], wrt?: number[]): void {
  const res = gradCheck(f, inputs, wrt);
  expect(res.maxError, res.worst).toBeLessThan(TOL);
}

describe('gradients match finite differences', () => {
  const unary: UnaryOp[] = [
    'neg',
    'exp',
    'log',
    'sqrt',
    'rsqrt',
    'sigmoid',
    'tanh',
    'silu',
    'gelu',
    'relu',
    'square',
    'abs',
  ];
  for (const op of unary) {
    it(`unary ${op}`, () => {
      const needsPositive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
      const x = needsPositive ? pos(3, 5) : r(3, 5);
      expectGrad(([a]) => T.unary(op, a), [x]);
    });
  }

  const binary: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'];
  for (const op of binary) {
    it(`binary ${op} with broadcasting`, () => {
      const b = op === 'div' ? pos(1, 4) : r(1, 4);
      expectGrad(([x, y]) => T.binaryOp(op, x, y), [r(2, 3, 4), b]);
      expectGrad(([x, y]) => T.binaryOp(op, x, y), [r(3, 1), op === 'div' ? pos(3, 4) : r(3, 4)]);
    });
  }

  it('scalar ops', () => {
    expectGrad(([x]) => T.addScalar(x, 2.5), [r(4)]);
    expectGrad(([x]) => T.mulScalar(x, -1.5), [r(4)]);
    expectGrad(([x]) => T.powScalar(x, 3), [r(4)]);
    expectGrad(([x]) => T.powScalar(x, -0.5), [pos(4)]);
  });

  it('sum, mean, max over axes', () => {
    expectGrad(([x]) => T.sum(x), [r(2, 3, 4)]);
    expectGrad(([x]) => T.sum(x, [0, 2]), [r(2, 3, 4)]);
    expectGrad(([x]) => T.sum(x, 1, true), [r(2, 3, 4)]);
    expectGrad(([x]) => T.mean(x, [1, 2]), [r(2, 3, 4)]);
    expectGrad(([x]) => T.max(x, -1), [r(3, 5)]);
    expectGrad(([x]) => T.max(x, [0, 1], true), [r(3, 5)]);
  });

  it('matmul in every transpose combination, batched and with a shared weight', () => {
    for (const [tA, tB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const a = tA ? r(4, 3) : r(3, 4);
      const b = tB ? r(5, 4) : r(4, 5);
      expectGrad(([x, y]) => T.matmul(x, y, tA, tB), [a, b]);
    }
    expectGrad(([x, y]) => T.matmul(x, y), [r(2, 3, 4), r(2, 4, 5)]);
    expectGrad(([x, y]) => T.matmul(x, y, false, true), [r(2, 3, 4), r(5, 4)]);
    expectGrad(([x, y]) => T.matmul(x, y), [r(2, 1, 3, 4), r(3, 4, 2)]);
    expectGrad(([x, y]) => T.matmul(T.transpose(x), y), [r(2, 4, 3), r(4, 2)]);
  });

  it('views: reshape, permute, expand, slice, contiguous, concat', () => {
    expectGrad(([x]) => T.reshape(x, [4, -1]), [r(2, 3, 2)]);
    expectGrad(([x]) => T.contiguous(T.permute(x, [2, 0, 1])), [r(2, 3, 4)]);
    expectGrad(([x]) => T.mul(T.expand(x, [3, 2, 4]), T.expand(x, [3, 2, 4])), [r(2, 1)]);
    expectGrad(([x]) => T.slice(x, 1, 1, 3), [r(2, 4, 3)]);
    expectGrad(([x]) => T.reshape(T.permute(x, [1, 0]), [-1]), [r(3, 4)]);
    expectGrad(([x, y]) => T.concat([x, y, x], 1), [r(2, 3), r(2, 1)]);
  });

  it('where and cast', () => {
    const cond = Tensor.from(new Uint8Array([1, 0, 0, 1, 1, 0]), [2, 3], 'u8');
    expectGrad(
      ([a, b]) => T.where(cond, a, b),
      [r(2, 3), r(1, 3)],
      [1, 2].map((i) => i - 1),
    );
  });

  it('embedding and scatterAddRows (repeated ids accumulate)', () => {
    const ids = Tensor.from(new Int32Array([2, 0, 2, 3, 1, 2]), [2, 3], 'i32');
    expectGrad(([w]) => T.embedding(w, ids), [r(4, 5)]);
    const flat = Tensor.from(new Int32Array([1, 1, 3]), [3], 'i32');
    expectGrad(([base, src]) => T.scatterAddRows(base, flat, src), [r(4, 2), r(3, 2)]);
  });

  it('softmax and logSoftmax', () => {
    expectGrad(([x]) => T.softmax(x), [r(3, 7)]);
    expectGrad(([x]) => T.logSoftmax(x), [r(2, 2, 7)]);
  });

  it('rmsNorm (input and gain)', () => {
    expectGrad(([x, g]) => T.rmsNorm(x, g, 1e-5), [r(2, 3, 8), r(8)]);
  });

  it('rope in both layouts, at an offset', () => {
    const maxPos = 12;
    const half = 4;
    const cos = new Float64Array(maxPos * half);
    const sin = new Float64Array(maxPos * half);
    for (let p = 0; p < maxPos; p++) {
      for (let i = 0; i < half; i++) {
        const a = p * Math.pow(10000, -i / half);
        cos[p * half + i] = Math.cos(a);
        sin[p * half + i] = Math.sin(a);
      }
    }
    const C = Tensor.from(cos, [maxPos, half], 'f64');
    const S = Tensor.from(sin, [maxPos, half], 'f64');
    expectGrad(([x]) => T.rope(x, C, S, 3, 'half'), [r(2, 4, 3, 8)]);
    expectGrad(([x]) => T.rope(x, C, S, 0, 'interleaved'), [r(1, 5, 2, 8)]);
  });

  it('attention: causal GQA, non-causal with mask, KV-cache offset', () => {
    expectGrad(([q, k, v]) => T.attention(q, k, v), [r(2, 5, 4, 3), r(2, 5, 2, 3), r(2, 5, 2, 3)]);
    const mask = r(1, 1, 3, 6);
    expectGrad(
      ([q, k, v]) => T.attention(q, k, v, { causal: false, mask }),
      [r(1, 3, 2, 4), r(1, 6, 1, 4), r(1, 6, 1, 4)],
    );
    expectGrad(
      ([q, k, v]) => T.attention(q, k, v, { qOffset: 4 }),
      [r(1, 2, 3, 4), r(1, 6, 3, 4), r(1, 6, 3, 4)],
    );
  });

  it('swiglu', () => {
    expectGrad(([g, u]) => T.swiglu(g, u), [r(3, 6), r(3, 6)]);
  });

  it('crossEntropy with ignored targets', () => {
    const targets = Tensor.from(new Int32Array([3, -100, 0, 6]), [4], 'i32');
    expectGrad(([l]) => T.crossEntropy(l, targets), [r(4, 7)]);
  });

  it('sequenceCrossEntropy: per-row sums, a row with no target, and equal to crossEntropy × count', () => {
    // 3 rows of 3 positions; row 1 has no target
    const targets = Tensor.from(new Int32Array([3, -100, 0, -100, -100, -100, 6, 2, 1]), [9], 'i32');
    expectGrad(([l]) => T.sequenceCrossEntropy(l, targets, 3), [r(9, 7)]);
    const l = r(9, 7);
    const sums = T.sequenceCrossEntropy(l, targets, 3).toArray();
    const row = (i: number) =>
      T.crossEntropy(T.slice(l, 0, 3 * i, 3 * i + 3), T.slice(targets, 0, 3 * i, 3 * i + 3));
    expect(sums[0]).toBeCloseTo(row(0).item() * 2, 12);
    expect(sums[1]).toBe(0);
    expect(sums[2]).toBeCloseTo(row(2).item() * 3, 12);
    expect(() => T.sequenceCrossEntropy(l, targets, 2)).toThrow(/do not fit/);
  });

  it('a composite graph that reuses a tensor', () => {
    expectGrad(([x, w]) => T.mul(T.silu(T.matmul(x, w)), T.matmul(x, w)), [r(3, 4), r(4, 2)]);
  });
});
