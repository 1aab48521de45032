/**
 * The fused residual step (tensor/ops-residual.ts; native/src/prefill-residual.c on the native backend):
 * sum = x + s·y and norm = rmsNorm(sum) equal the composition of mulScalar, add and rmsNorm bit for bit
 * on the native backend (the kernel runs the same loop bodies), at 1, 2 and 3 threads, over row counts
 * below, at and past its 8-row step and the one-thread cutoff, and widths below, at and past a vector;
 * the same op on the reference backend (the TypeScript twin: the composition itself) agrees to rounding.
 * Views, recording autograd and bad shapes take the composition or throw as the unfused ops would.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { nativeBackend, refBackend } from '../../src/backends/index.js';
import type { NnKernels } from '../../src/backends/kernels.js';
import {
  add,
  backward,
  getBackend,
  mulScalar,
  noGrad,
  residualNorm,
  rmsNorm,
  Rng,
  scope,
  setBackend,
  ShapeError,
  slice,
  sum,
  Tensor,
} from '../../src/tensor/index.js';

const addon = loadNativeKernels();
const threads0 = addon?.getThreads();
const native = nativeBackend();
const ref = refBackend();

function rand(rng: Rng, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  );
}

const bits = (t: Tensor): number[] => Array.from(new Uint32Array(Float32Array.from(t.toArray()).buffer));

/**
 * [B, T, D]: rows below, at and past the 8-row step (67 rows over 2 tasks: 33 and 34, each ending in a
 * partial step), widths below, at and past a vector.
 */
const SHAPES: number[][] = [
  [1, 1, 1],
  [1, 3, 5],
  [2, 8, 16],
  [1, 9, 17],
  [3, 17, 64],
  [1, 40, 130],
  [1, 67, 2304],
];
const SCALES = [1, 0.7, -2.5];

function composed(x: Tensor, y: Tensor, s: number, gain: Tensor | null, eps: number) {
  const total = add(x, s === 1 ? y : mulScalar(y, s));
  return { sum: total, norm: gain ? rmsNorm(total, gain, eps) : null };
}

describe.skipIf(!addon || !native)('fused residual step on the native backend', () => {
  afterAll(() => {
    if (threads0) addon?.setThreads(threads0);
  });

  for (const threads of [1, 2, 3])
    it(`equals mulScalar, add and rmsNorm bit for bit (${threads} thread(s))`, () => {
      setBackend(native!);
      addon!.setThreads(threads);
      const rng = new Rng(40 + threads);
      noGrad(() =>
        scope(() => {
          for (const shape of SHAPES)
            for (const s of SCALES)
              for (const withGain of [true, false]) {
                const D = shape[shape.length - 1];
                const x = rand(rng, shape);
                const y = rand(rng, shape, 3);
                const gain = withGain ? rand(rng, [D]) : null;
                const got = residualNorm(x, y, s, gain, 1e-5);
                const want = composed(x, y, s, gain, 1e-5);
                const what = `${shape.join('x')} s=${s} gain=${withGain}`;
                expect(bits(got.sum), `${what}: sum`).toEqual(bits(want.sum));
                if (gain) expect(bits(got.norm!), `${what}: norm`).toEqual(bits(want.norm!));
                else expect(got.norm).toBeNull();
              }
        }),
      );
    });

  it('is the kernel that runs (the backend fuses contiguous f32) and views take the composition', () => {
    setBackend(native!);
    const rng = new Rng(3);
    noGrad(() =>
      scope(() => {
        const x = rand(rng, [1, 20, 48]);
        const y = rand(rng, [1, 20, 48]);
        const g = rand(rng, [48]);
        expect(getBackend().residualNorm?.(x, y, 0.5, g, 1e-6)).not.toBeNull();
        const xv = slice(rand(rng, [1, 20, 50]), 2, 1, 49); // strided rows
        expect(getBackend().residualNorm?.(xv, y, 0.5, g, 1e-6)).toBeNull();
        const got = residualNorm(xv, y, 0.5, g, 1e-6);
        const want = composed(xv, y, 0.5, g, 1e-6);
        expect(bits(got.norm!)).toEqual(bits(want.norm!));
      }),
    );
  });

  it('the binding refuses an output that overlaps x', () => {
    const k = addon as unknown as NnKernels;
    const buf = new Float32Array(64);
    const run = () =>
      k.prefillResidual!(buf, 0, new Float32Array(32), 0, buf, 16, buf, 0, buf, 0, 1, 2, 16, 1e-5, 0);
    expect(run).toThrow(RangeError);
    expect(run).toThrow(/prefillResidual: out must not overlap x/);
  });
});

describe('fused residual step against the TypeScript twin', () => {
  it('native agrees with the reference backend to rounding', () => {
    if (!native) return;
    const rng = new Rng(9);
    for (const shape of SHAPES)
      for (const s of SCALES) {
        const D = shape[shape.length - 1];
        const [x, y, g] = [rand(rng, shape), rand(rng, shape, 3), rand(rng, [D])];
        setBackend(native);
        const got = noGrad(() => residualNorm(x, y, s, g, 1e-5));
        setBackend(ref);
        const want = noGrad(() => residualNorm(x, y, s, g, 1e-5));
        const close = (a: Tensor, b: Tensor) => {
          const [p, q] = [a.data as Float32Array, b.data as Float32Array];
          let worst = 0;
          for (let i = 0; i < q.length; i++)
            worst = Math.max(worst, Math.abs(p[i] - q[i]) / (1 + Math.abs(q[i])));
          expect(worst, shape.join('x')).toBeLessThanOrEqual(1e-5);
        };
        close(got.sum, want.sum);
        close(got.norm!, want.norm!);
      }
  });

  for (const [name, backend] of [
    ['ref', ref],
    ['native', native],
  ] as const)
    it.skipIf(!backend)(`records the composition for autograd (${name})`, () => {
      setBackend(backend!);
      const grads = (fused: boolean) =>
        scope(() => {
          const r2 = new Rng(11);
          const x = Tensor.parameter(rand(r2, [2, 5, 12]), 'x');
          const y = Tensor.parameter(rand(r2, [2, 5, 12]), 'y');
          const g = Tensor.parameter(rand(r2, [12]), 'g');
          const r = fused ? residualNorm(x, y, 0.7, g, 1e-5) : composed(x, y, 0.7, g, 1e-5);
          backward(add(sum(r.norm!), sum(mulScalar(r.sum, 0.3))));
          return [x, y, g].map((p) => Array.from(p.grad!.data as Float32Array));
        });
      expect(grads(true)).toEqual(grads(false));
    });

  it('rejects shapes that do not fit with a ShapeError', () => {
    setBackend(ref);
    const x = Tensor.zeros([2, 4]);
    expect(() => residualNorm(x, Tensor.zeros([2, 5]), 1, null)).toThrow(ShapeError);
    expect(() => noGrad(() => residualNorm(x, Tensor.zeros([2, 4]), 1, Tensor.ones([5])))).toThrow(
      /rmsNorm gain \[5\] does not match/,
    );
    if (native) {
      setBackend(native);
      expect(() => noGrad(() => residualNorm(x, Tensor.zeros([2, 4]), 1, Tensor.ones([5])))).toThrow(
        ShapeError,
      );
    }
  });
});
