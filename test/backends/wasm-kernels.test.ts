/**
 * The wasm kernel module against the TypeScript twins: the GEMM family on shapes that hit every
 * remainder of the 4x8 SIMD128 tile, the GEMV and skinny paths, every transpose, offsets and padded
 * leading dims, on the SIMD128 and portable code paths and on 1 and 2 threads (with the worker
 * online); operands staged from ordinary arrays and resident in wasm memory; window checks; the
 * single-threaded module over unshared memory.
 * (The NN kernels are held to theirs through the backend in test/tensor/parity.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { wasmKernels } from '../../src/backends/index.js';
import { refGemmKernels as ref } from '../../src/backends/kernels-ref-gemm.js';
import type { WasmIsa } from '../../src/backends/wasm/wasm-kernels.js';
import { createSingleThreadWasmKernels } from '../../src/backends/wasm/wasm-node.js';

const k = wasmKernels();

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return a;
}

function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
}

/** |got − want| <= rel · bound elementwise, bound = Σ|terms| (the rounding scale); NaN sentinels exact. */
function expectClose(
  got: Float32Array,
  want: Float32Array,
  bound: Float32Array,
  rel: number,
  what: string,
): void {
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) {
      if (!Number.isNaN(got[i])) expect.fail(`${what}: padding [${i}] changed to ${got[i]}`);
      continue;
    }
    if (!(Math.abs(got[i] - want[i]) <= rel * bound[i] + 1e-30))
      expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]} (bound ${rel * bound[i]})`);
  }
}

interface Case {
  tA: boolean;
  tB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
}

/** One sgemm's operands (padded, offset, C's padding NaN) and the reference result with its error scale. */
function prepare(c: Case, seed: number) {
  const [ar, ac] = c.tA ? [c.K, c.M] : [c.M, c.K];
  const [br, bc] = c.tB ? [c.N, c.K] : [c.K, c.N];
  const lda = ac + 3,
    ldb = bc + 5,
    ldc = c.N + 2;
  const A = rand(7 + ar * lda + 4, seed),
    B = rand(3 + br * ldb + 4, seed + 1);
  const C0 = rand(5 + c.M * ldc + 4, seed + 2);
  for (let i = 0; i < C0.length; i++) {
    const r = Math.floor((i - 5) / ldc),
      col = (i - 5) % ldc;
    if (i < 5 || r >= c.M || col >= c.N || c.beta === 0) C0[i] = NaN; // padding, or must not leak
  }
  const want = C0.slice(),
    bound = new Float32Array(C0.length);
  ref.sgemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, A, 7, lda, B, 3, ldb, c.beta, want, 5, ldc);
  const absA = A.map(Math.abs),
    absB = B.map(Math.abs);
  ref.sgemm(c.tA, c.tB, c.M, c.N, c.K, Math.abs(c.alpha), absA, 7, lda, absB, 3, ldb, 0, bound, 5, ldc);
  for (let i = 0; i < bound.length; i++) bound[i] += Number.isNaN(C0[i]) ? 0 : Math.abs(c.beta * C0[i]);
  return { A, B, C0, lda, ldb, ldc, want, bound };
}

/** Runs the prepared sgemm on the wasm kernels (operands staged, or resident in wasm memory). */
function run(c: Case, o: ReturnType<typeof prepare>, what: string, resident = false): void {
  const [a, b, got] = resident ? [inWasm(o.A), inWasm(o.B), inWasm(o.C0)] : [o.A, o.B, o.C0.slice()];
  k.sgemm(c.tA, c.tB, c.M, c.N, c.K, c.alpha, a, 7, o.lda, b, 3, o.ldb, c.beta, got, 5, o.ldc);
  expectClose(Float32Array.from(got), o.want, o.bound, 2e-6 * Math.sqrt(c.K + 1), what);
}

/** A copy of x in wasm memory (how the backend's allocator places tensors). */
function inWasm<T extends Float32Array | Uint16Array>(x: T): T {
  const p = k.rt.alloc(x.byteLength);
  const y = new (x.constructor as new (b: ArrayBufferLike, o: number, n: number) => T)(
    k.rt.buffer(),
    p,
    x.length,
  );
  y.set(x);
  return y;
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 31, 33, 65, 129, 257];
const SHAPES: [number, number, number][] = [
  ...SIZES.flatMap((s): [number, number, number][] => [
    [s, 19, 17],
    [17, s, 23],
    [13, 11, s],
  ]),
  [300, 257, 513], // several K and M blocks, threads split the grid
  [1, 257, 513],
  [300, 1, 257],
  [2, 129, 33], // skinny: 2 <= M <= 4 against W[N,K]
  [3, 65, 259],
  [4, 1000, 65],
];
const TRANS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
const AB: [number, number][] = [
  [1, 0],
  [0.5, -2],
  [-1.25, 1],
];

const configs: { isa: WasmIsa; t: number }[] = (['simd128', 'scalar'] as const).flatMap((isa) =>
  [1, 2].map((t) => ({ isa, t })),
);
function eachConfig(fn: (what: string) => void): void {
  for (const { isa, t } of configs) {
    expect(k.setIsa(isa)).toBe(true);
    k.setThreads(t);
    fn(`${isa} ${t}t`);
  }
}

beforeAll(async () => {
  k.setThreads(2);
  // the worker joins asynchronously; the threaded cases should run with it, not on the caller alone
  await vi.waitFor(() => expect(k.rt.workersOnline()).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
});

afterAll(() => {
  k.setIsa('simd128');
  k.setThreads(2);
});

describe('wasm kernels: set-up', () => {
  it('reports SIMD128, switches code paths and threads', () => {
    expect(k.features().isa).toBe('simd128');
    expect(k.setIsa('scalar')).toBe(true);
    expect(k.features().isa).toBe('scalar');
    k.setIsa('simd128');
    k.setThreads(3);
    expect(k.getThreads()).toBe(3);
    k.setThreads(2);
    expect(() => k.setThreads(0)).toThrow(/threads must be an integer/);
  });

  it('rejects windows that do not fit, leaving C untouched', () => {
    const A = rand(12, 1),
      B = rand(12, 2),
      C = new Float32Array(9).fill(7);
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, 1, 4, B, 0, 3, 0, C, 0, 3)).toThrow(RangeError);
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, 0, 3, B, 0, 3, 0, C, 0, 3)).toThrow(/ld of A = 3/);
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, 0, 4, B, 0, 3, 0, C, 1, 3)).toThrow(RangeError);
    expect(() => k.sgemm(false, false, -1, 3, 4, 1, A, 0, 4, B, 0, 3, 0, C, 0, 3)).toThrow(/non-negative/);
    expect(Array.from(C)).toEqual(new Array(9).fill(7));
    expect(() => k.gemvMany(A, 0, 4, [B, toBf16(B)], [0, 0], [1, 1], C, 0)).toThrow(TypeError);
  });
});

describe('wasm sgemm matches the reference', () => {
  for (const [tA, tB] of TRANS)
    it(`transA=${tA} transB=${tB}: remainder shapes, alpha/beta, both code paths, 1 and 2 threads`, () => {
      let seed = 1;
      for (const [M, N, K] of SHAPES)
        for (const [alpha, beta] of M * N * K > 1e6 ? AB.slice(2) : AB) {
          const c = { tA, tB, M, N, K, alpha, beta };
          const o = prepare(c, seed++);
          eachConfig((cfg) => run(c, o, `${cfg} ${M}x${N}x${K} a=${alpha} b=${beta}`));
        }
    });

  it('operands resident in wasm memory are used in place', () => {
    let seed = 100;
    for (const [M, N, K] of [
      [65, 33, 129],
      [1, 257, 100],
      [130, 67, 300],
    ] as const)
      for (const [tA, tB] of TRANS) {
        const c = { tA, tB, M, N, K, alpha: 1, beta: 0.5 };
        run(c, prepare(c, seed++), `resident ${M}x${N}x${K}`, true);
      }
  });
});

describe('wasm sgemmBatched, gemmBf16 and gemvMany match the reference', () => {
  it('batches with broadcast operands', () => {
    eachConfig((cfg) => {
      for (const [batch, M, N, K, sA0] of [
        [5, 7, 9, 13, 1],
        [3, 65, 33, 40, 0],
        [16, 2, 64, 64, 1],
      ]) {
        const lda = K,
          ldb = N,
          ldc = N;
        const sA = sA0 ? M * K : 0,
          sB = N * K,
          sC = M * N;
        const A = rand(Math.max(sA * batch, M * K), 3),
          B = rand(sB * batch, 4);
        const want = rand(sC * batch, 5),
          got = want.slice(),
          bound = new Float32Array(want.length);
        ref.sgemmBatched(
          batch,
          false,
          false,
          M,
          N,
          K,
          1,
          A,
          0,
          lda,
          sA,
          B,
          0,
          ldb,
          sB,
          0.5,
          want,
          0,
          ldc,
          sC,
        );
        ref.sgemmBatched(
          batch,
          false,
          false,
          M,
          N,
          K,
          1,
          A.map(Math.abs),
          0,
          lda,
          sA,
          B.map(Math.abs),
          0,
          ldb,
          sB,
          0,
          bound,
          0,
          ldc,
          sC,
        );
        bound.forEach((b, i) => (bound[i] = b + 1));
        k.sgemmBatched(batch, false, false, M, N, K, 1, A, 0, lda, sA, B, 0, ldb, sB, 0.5, got, 0, ldc, sC);
        expectClose(got, want, bound, 1e-5, `${cfg} batch ${batch} ${M}x${N}x${K}`);
      }
    });
  });

  it('bf16 weights are widened exactly (f32 precision) on every path', () => {
    let seed = 7;
    eachConfig((cfg) => {
      for (const [M, N, K] of [
        [1, 67, 131],
        [1, 8, 8],
        [2, 33, 17],
        [4, 129, 65],
        [5, 19, 263],
        [70, 129, 300],
        [1, 300, 1024],
      ]) {
        const lda = K + 1,
          ldw = K + 3,
          ldc = N + 2;
        const A = rand(M * lda, seed++),
          W = toBf16(rand(N * ldw, seed++));
        const want = rand(M * ldc, seed++),
          got = want.slice(),
          bound = new Float32Array(want.length);
        ref.gemmBf16(M, N, K, 1.5, A, 0, lda, W, 0, ldw, -1, want, 0, ldc);
        ref.gemmBf16(
          M,
          N,
          K,
          1.5,
          A.map(Math.abs),
          0,
          lda,
          W.map((w) => w & 0x7fff),
          0,
          ldw,
          0,
          bound,
          0,
          ldc,
        );
        bound.forEach((b, i) => (bound[i] = b + Math.abs(got[i])));
        k.gemmBf16(M, N, K, 1.5, A, 0, lda, W, 0, ldw, -1, got, 0, ldc);
        expectClose(got, want, bound, 2e-6 * Math.sqrt(K), `${cfg} bf16 ${M}x${N}x${K}`);
      }
    });
  });

  it('gemvMany: f32 and bf16 weights at offsets, outputs follow one another, equal to single GEMVs', () => {
    eachConfig((cfg) => {
      for (const bf16 of [false, true]) {
        const K = 131,
          ns = [64, 17, 129];
        const x = rand(K + 3, 9);
        const ws = ns.map((n, i) => (bf16 ? toBf16(rand(n * K + 5, 10 + i)) : rand(n * K + 5, 10 + i)));
        const y = new Float32Array(ns.reduce((s, n) => s + n, 0) + 2);
        k.gemvMany(x, 3, K, ws, [5, 5, 5], ns, y, 2);
        let o = 2;
        for (const [i, n] of ns.entries()) {
          const one = new Float32Array(n);
          if (bf16) k.gemmBf16(1, n, K, 1, x, 3, K, ws[i] as Uint16Array, 5, K, 0, one, 0, n);
          else k.sgemm(false, true, 1, n, K, 1, x, 3, K, ws[i] as Float32Array, 5, K, 0, one, 0, n);
          expect(Array.from(y.subarray(o, o + n)), `${cfg} bf16=${bf16} weight ${i}`).toEqual(
            Array.from(one),
          );
          o += n;
        }
      }
    });
  });
});

describe('the single-threaded module (pages without cross-origin isolation)', () => {
  const st = createSingleThreadWasmKernels(64 << 20);

  it('runs one thread over unshared memory and matches the reference, resident or staged', () => {
    expect(st.rt.shared).toBe(false);
    expect(st.rt.buffer()).toBeInstanceOf(ArrayBuffer);
    st.setThreads(2);
    expect(st.getThreads()).toBe(1);
    let seed = 500;
    for (const [M, N, K] of [
      [1, 129, 67],
      [3, 65, 100],
      [70, 33, 129],
    ] as const) {
      const A = rand(M * K, seed++),
        W = rand(N * K, seed++);
      const want = new Float32Array(M * N),
        bound = new Float32Array(M * N);
      ref.sgemm(false, true, M, N, K, 1, A, 0, K, W, 0, K, 0, want, 0, N);
      ref.sgemm(false, true, M, N, K, 1, A.map(Math.abs), 0, K, W.map(Math.abs), 0, K, 0, bound, 0, N);
      const got = new Float32Array(M * N);
      st.sgemm(false, true, M, N, K, 1, A, 0, K, W, 0, K, 0, got, 0, N);
      expectClose(got, want, bound, 2e-6 * Math.sqrt(K), `st staged ${M}x${N}x${K}`);
      const p = st.rt.alloc(4 * (M * K + N * K + M * N));
      const buf = st.rt.buffer();
      const [a, w, c] = [
        new Float32Array(buf, p, M * K),
        new Float32Array(buf, p + 4 * M * K, N * K),
        new Float32Array(buf, p + 4 * (M * K + N * K), M * N),
      ];
      a.set(A);
      w.set(W);
      st.sgemm(false, true, M, N, K, 1, a, 0, K, w, 0, K, 0, c, 0, N);
      expectClose(Float32Array.from(c), want, bound, 2e-6 * Math.sqrt(K), `st resident ${M}x${N}x${K}`);
      st.rt.free(p);
    }
  });

  it('says what to do when its fixed heap is full (it cannot grow under live tensors)', () => {
    expect(() => st.rt.alloc(128 << 20)).toThrow(/single-threaded wasm heap is full.*COOP\/COEP/);
  });
});
