/**
 * Fast paths against the reference oracle in f32: every op on shapes that hit remainder paths
 * (1, primes, odd sizes), forward and backward. Runs on the native backend when built, on the wasm
 * backend (the same C as WebAssembly) and on the GEMM-routed variants of the TypeScript backend.
 */
import { describe, expect, it } from 'vitest';
import { nativeBackend, refBackend, wasmBackend } from '../../src/backends/index.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { refGemmKernels } from '../../src/backends/kernels-ref-gemm.js';
import * as T from '../../src/tensor/index.js';
import { Rng, Tensor, type Backend } from '../../src/tensor/index.js';

const oracle = refBackend();
const fastCases: { name: string; backend: Backend | null }[] = [
  { name: 'native', backend: nativeBackend() },
  { name: 'wasm', backend: wasmBackend() },
  { name: 'ts with GEMM attention', backend: new CpuBackend('ts-gemm-attn', refGemmKernels, true) },
];

function rand(rng: Rng, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  ).keep();
}

/** Runs f (returning a scalar-reducible tensor) on both backends; compares outputs and input grads. */
function compare(fast: Backend, f: (xs: Tensor[]) => Tensor, inputs: Tensor[], tol = 2e-4): void {
  const run = (b: Backend): { out: number[]; grads: number[][] } => {
    T.setBackend(b);
    const ps = inputs.map((x) => (x.dtype === 'f32' ? Tensor.parameter(x.contiguousCopy()) : x));
    const out = f(ps);
    const R = Tensor.from(
      Float32Array.from({ length: out.size }, (_, i) => Math.sin(i + 1)),
      out.shape,
    );
    T.backward(T.sum(T.mul(out, R)));
    return { out: out.toArray(), grads: ps.map((p) => (p.grad ? p.grad.toArray() : [])) };
  };
  const want = run(oracle);
  const got = run(fast);
  const check = (a: number[], b: number[], what: string): void => {
    const scale = Math.max(1, ...b.map(Math.abs));
    let err = 0;
    a.forEach((v, i) => (err = Math.max(err, Math.abs(v - b[i]))));
    expect(err / scale, what).toBeLessThan(tol);
  };
  check(got.out, want.out, 'output');
  got.grads.forEach((g, i) => check(g, want.grads[i], `grad of input ${i}`));
}

for (const { name, backend } of fastCases) {
  describe.skipIf(!backend)(`${name} matches the reference`, () => {
    const rng = new Rng(11);
    const fast = backend!;
    it('matmul over odd shapes and transposes', () => {
      for (const [m, k, n] of [
        [1, 1, 1],
        [1, 7, 13],
        [3, 17, 1],
        [31, 33, 29],
        [65, 2, 129],
      ]) {
        for (const [tA, tB] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ] as const) {
          const a = rand(rng, tA ? [k, m] : [m, k]);
          const b = rand(rng, tB ? [n, k] : [k, n]);
          compare(fast, ([x, y]) => T.matmul(x, y, tA, tB), [a, b]);
        }
      }
      compare(fast, ([x, y]) => T.matmul(x, y, false, true), [rand(rng, [3, 5, 17]), rand(rng, [11, 17])]);
    });
    it('attention: causal MHA/GQA, odd lengths, KV offset', () => {
      for (const [B, Tq, S, Hq, Hkv, D] of [
        [1, 1, 1, 1, 1, 2],
        [2, 7, 7, 4, 2, 8],
        [1, 3, 11, 6, 3, 16],
        [2, 13, 13, 3, 1, 5],
      ]) {
        const q = rand(rng, [B, Tq, Hq, D]);
        const k = rand(rng, [B, S, Hkv, D]);
        const v = rand(rng, [B, S, Hkv, D]);
        compare(fast, ([a, b, c]) => T.attention(a, b, c), [q, k, v]);
      }
      const q = rand(rng, [1, 4, 2, 8]);
      const kv = rand(rng, [1, 9, 2, 8]);
      compare(fast, ([a, b, c]) => T.attention(a, b, c, { causal: false }), [q, kv, kv]);
    });
    it('attention: one query row (decode over a cache), keys split across threads', () => {
      for (const [B, S, Hq, Hkv, D, qOffset] of [
        [1, 1, 3, 1, 5, 0],
        [1, 37, 6, 3, 16, 36],
        [2, 300, 4, 4, 8, 299],
        [3, 129, 9, 3, 7, 128],
        [1, 200, 2, 1, 64, 77], // causal: keys past qOffset stay hidden
        [1, 600, 4, 2, 32, 599], // enough work to split the keys over two threads
        [1, 700, 6, 2, 32, 450], // split, uneven ranges, hidden keys
      ]) {
        const q = rand(rng, [B, 1, Hq, D]);
        const k = rand(rng, [B, S, Hkv, D], 2);
        const v = rand(rng, [B, S, Hkv, D]);
        compare(fast, ([a, b, c]) => T.attention(a, b, c, { qOffset }), [q, k, v]);
      }
      const q = rand(rng, [2, 1, 4, 8]);
      const kv = rand(rng, [2, 45, 2, 8]);
      compare(fast, ([a, b, c]) => T.attention(a, b, c, { causal: false }), [q, kv, kv]);
    });
    it('row ops: rmsNorm, softmax, logSoftmax, crossEntropy, swiglu, rope', () => {
      for (const D of [1, 7, 64, 129]) {
        compare(fast, ([x, g]) => T.rmsNorm(x, g, 1e-5), [rand(rng, [3, D]), rand(rng, [D])]);
        compare(fast, ([x]) => T.softmax(x), [rand(rng, [5, D], 3)]);
        compare(fast, ([x]) => T.logSoftmax(x), [rand(rng, [5, D], 3)]);
        compare(fast, ([g, u]) => T.swiglu(g, u), [rand(rng, [2, D]), rand(rng, [2, D])]);
      }
      const targets = Tensor.from(Int32Array.from([0, 5, -100, 96, 3]), [5], 'i32');
      compare(fast, ([l]) => T.crossEntropy(l, targets), [rand(rng, [5, 97], 2)]);
      const rowTargets = Tensor.from(Int32Array.from([0, 5, -100, 96, 3, -100]), [6], 'i32');
      compare(fast, ([l]) => T.sequenceCrossEntropy(l, rowTargets, 3), [rand(rng, [6, 97], 2)]);
      const cos = rand(rng, [10, 4]);
      const sin = rand(rng, [10, 4]);
      compare(fast, ([x]) => T.rope(x, cos, sin, 2, 'half'), [rand(rng, [2, 3, 2, 8])]);
    });
  });
}
