/**
 * The native GEMM family against its TypeScript twin, on shapes that hit every remainder path of
 * the packing and micro-kernels, every transpose combination, offsets and padded leading dims, on
 * every code path this CPU has (AVX-512, AVX2, scalar) and on 1 and 2 threads.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels, type NativeIsa } from '../../src/backends/kernels-native.js';
import { refGemmKernels as ref } from '../../src/backends/kernels-ref-gemm.js';
import { bf16ToF32 } from '../../src/tensor/dtype.js';

const native = loadNativeKernels();

/** Deterministic values in [-1, 1). */
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
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
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

/** Operands with offsets and leading dims wider than the matrix; C's padding holds sentinels. */
function operands(c: Case, seed: number) {
  const [ar, ac] = c.tA ? [c.K, c.M] : [c.M, c.K];
  const [br, bc] = c.tB ? [c.N, c.K] : [c.K, c.N];
  const lda = ac + 3,
    ldb = bc + 5,
    ldc = c.N + 2;
  const aOff = 7,
    bOff = 3,
    cOff = 5;
  const A = rand(aOff + ar * lda + 4, seed);
  const B = rand(bOff + br * ldb + 4, seed + 1);
  const C0 = rand(cOff + c.M * ldc + 4, seed + 2);
  if (c.beta === 0) C0.fill(NaN); // must not leak
  return { A, B, C0, lda, ldb, ldc, aOff, bOff, cOff };
}

/** Per-element bound: rel · (|alpha|·Σ|a·b| + |beta·c|) — sums of |terms| set the rounding scale. */
function expectClose(
  got: Float32Array,
  want: Float32Array,
  bound: Float32Array,
  rel: number,
  what: string,
): void {
  let worst = 0,
    at = -1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i],
      g = got[i];
    if (Number.isNaN(w)) {
      if (!Object.is(g, w) && !Number.isNaN(g)) throw new Error(`${what}: padding [${i}] changed to ${g}`);
      continue;
    }
    const err = Math.abs(g - w) / (rel * bound[i] + 1e-30);
    if (!(err <= worst)) [worst, at] = [Number.isNaN(err) ? Infinity : err, i];
  }
  if (worst > 1)
    expect.fail(`${what}: element ${at} is ${got[at]}, want ${want[at]} (${worst.toFixed(2)}x tolerance)`);
}

/** Runs ref once and returns the expected C (with C's padding untouched) and the error scale. */
function reference(c: Case, o: ReturnType<typeof operands>) {
  const want = o.C0.slice();
  ref.sgemm(
    c.tA,
    c.tB,
    c.M,
    c.N,
    c.K,
    c.alpha,
    o.A,
    o.aOff,
    o.lda,
    o.B,
    o.bOff,
    o.ldb,
    c.beta,
    want,
    o.cOff,
    o.ldc,
  );
  const bound = o.C0.map((x) => (Number.isNaN(x) ? 0 : Math.abs(x * c.beta)));
  const abs = (x: Float32Array) => x.map(Math.abs);
  ref.sgemm(
    c.tA,
    c.tB,
    c.M,
    c.N,
    c.K,
    Math.abs(c.alpha),
    abs(o.A),
    o.aOff,
    o.lda,
    abs(o.B),
    o.bOff,
    o.ldb,
    1,
    bound,
    o.cOff,
    o.ldc,
  );
  // the padding of C keeps its sentinel: compare it exactly
  for (let i = 0; i < want.length; i++) {
    const r = Math.floor((i - o.cOff) / o.ldc),
      col = (i - o.cOff) % o.ldc;
    if (i < o.cOff || r >= c.M || col >= c.N) [want[i], bound[i]] = [o.C0[i], 0];
  }
  return { want, bound };
}

const SIZES = [1, 2, 3, 7, 13, 17, 31, 33, 63, 65, 127, 129, 257];
const SHAPES: [number, number, number][] = [
  ...SIZES.flatMap((s): [number, number, number][] => [
    [s, 33, 17],
    [17, s, 33],
    [31, 17, s],
  ]),
  [1, 1, 1],
  [2, 3, 7],
  [13, 31, 63],
  [65, 127, 129],
  [129, 65, 127],
  [127, 257, 31],
  [300, 257, 513],
  [1, 257, 513],
  [300, 1, 257],
  [4, 1000, 65], // skinny: 2 <= M <= 4 streams W once
  [2, 129, 33],
  [3, 65, 257],
  [1000, 4, 65],
];
const AB: [number, number][] = [
  [1, 0],
  [1, 1],
  [0.5, -2],
  [-1.25, 0],
];
const TRANS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// read before probing the ISAs below (probing leaves the last one selected)
const best = native?.features().isa;
const bf16Dot = native?.features().bf16 ?? false;
const threads0 = native?.getThreads() ?? 1;
const isas: NativeIsa[] = native
  ? (['avx512', 'avx2', 'scalar'] as const).filter((isa) => native.setIsa(isa))
  : [];
if (native && best) native.setIsa(best);
const configs = isas.flatMap((isa) => [1, 2].map((t) => ({ isa, t })));

function eachConfig(fn: (what: string, isa: NativeIsa) => void): void {
  for (const { isa, t } of configs) {
    native!.setIsa(isa);
    native!.setThreads(t);
    fn(`${isa} ${t}t`, isa);
  }
}

afterAll(() => {
  if (native && best) {
    native.setIsa(best);
    native.setThreads(threads0);
  }
});

describe('reference gemm kernels', () => {
  it('computes a small product with every transpose', () => {
    const A = new Float32Array([1, 2, 3, 4, 5, 6]); // [2,3]
    const At = new Float32Array([1, 4, 2, 5, 3, 6]); // [3,2]
    const B = new Float32Array([1, 0, 0, 1, 1, 1]); // [3,2]
    const Bt = new Float32Array([1, 0, 1, 0, 1, 1]); // [2,3]
    const want = [4, 5, 10, 11];
    for (const [tA, tB] of TRANS) {
      const C = new Float32Array(4).fill(NaN);
      ref.sgemm(tA, tB, 2, 2, 3, 1, tA ? At : A, 0, tA ? 2 : 3, tB ? Bt : B, 0, tB ? 3 : 2, 0, C, 0, 2);
      expect(Array.from(C)).toEqual(want);
    }
  });

  it('widens bf16 bits exactly', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x0000)).toBe(0);
    const C = new Float32Array(1);
    ref.gemmBf16(
      1,
      1,
      2,
      2,
      new Float32Array([1, 2]),
      0,
      2,
      new Uint16Array([0x3f80, 0x4000]),
      0,
      2,
      0,
      C,
      0,
      1,
    );
    expect(C[0]).toBe(10);
  });
});

describe.skipIf(!native)('native kernels: set-up', () => {
  it('reports its features and thread count', () => {
    const f = native!.features();
    expect(['avx512', 'avx2', 'scalar']).toContain(f.isa);
    expect(typeof f.bf16).toBe('boolean');
    expect(native!.getThreads()).toBeGreaterThanOrEqual(1);
    native!.setThreads(3);
    expect(native!.getThreads()).toBe(3);
    native!.setThreads(threads0);
  });

  it('allocates zeroed aligned buffers', () => {
    for (const n of [0, 1, 100, 1 << 20]) {
      const b = native!.alignedBuffer(n);
      expect(b.byteLength).toBe(n);
      expect(new Uint8Array(b).every((x) => x === 0)).toBe(true);
      new Float32Array(b, 0, n >> 2).fill(1);
    }
  });

  it('rejects windows that do not fit and wrong types, leaving C untouched', () => {
    const A = new Float32Array(12),
      B = new Float32Array(12),
      C = new Float32Array(9).fill(7);
    const k = native!;
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, 1, 4, B, 0, 3, 0, C, 0, 3)).toThrow(RangeError);
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, 0, 4, B, 0, 3, 0, C, 1, 3)).toThrow(/C is too small/);
    expect(() => k.sgemm(false, true, 3, 3, 4, 1, A, 0, 3, B, 0, 4, 0, C, 0, 3)).toThrow(
      /lda = 3 is smaller/,
    );
    expect(() => k.sgemm(false, false, 3, 3, 4, 1, A, -1, 4, B, 0, 3, 0, C, 0, 3)).toThrow(RangeError);
    expect(() => k.sgemm(false, false, 3, 3, 4.5, 1, A, 0, 4, B, 0, 3, 0, C, 0, 3)).toThrow(RangeError);
    expect(() =>
      k.sgemm(
        false,
        false,
        3,
        3,
        4,
        1,
        new Float64Array(12) as unknown as Float32Array,
        0,
        4,
        B,
        0,
        3,
        0,
        C,
        0,
        3,
      ),
    ).toThrow(TypeError);
    expect(() => k.sgemmBatched(2, false, false, 3, 3, 4, 1, A, 0, 4, 1, B, 0, 3, 0, 0, C, 0, 3, 0)).toThrow(
      /A is too small/,
    );
    expect(() => k.gemmBf16(3, 3, 4, 1, A, 0, 4, new Uint16Array(11), 0, 4, 0, C, 0, 3)).toThrow(
      /W is too small/,
    );
    expect(Array.from(C)).toEqual(new Array(9).fill(7));
    // empty problems touch nothing and need no memory
    k.sgemm(false, false, 0, 3, 4, 1, A, 0, 4, B, 0, 3, 0, new Float32Array(0), 0, 3);
  });
});

describe.skipIf(!native)('native sgemm matches the reference', () => {
  for (const [tA, tB] of TRANS) {
    it(`transA=${tA} transB=${tB}: all remainder shapes, alpha/beta variants`, () => {
      SHAPES.forEach(([M, N, K], s) => {
        const [alpha, beta] = AB[(s + Number(tA) + 2 * Number(tB)) % AB.length];
        const c = { tA, tB, M, N, K, alpha, beta };
        const o = operands(c, 100 + s);
        const { want, bound } = reference(c, o);
        eachConfig((cfg) => {
          const C = o.C0.slice();
          native!.sgemm(
            tA,
            tB,
            M,
            N,
            K,
            alpha,
            o.A,
            o.aOff,
            o.lda,
            o.B,
            o.bOff,
            o.ldb,
            beta,
            C,
            o.cOff,
            o.ldc,
          );
          expectClose(C, want, bound, 1e-5, `${cfg} ${JSON.stringify(c)}`);
        });
      });
    });
  }

  it('beta = 0 ignores NaN in C and K = 0 / alpha = 0 only scale C', () => {
    for (const [M, N, K, alpha, beta] of [
      [5, 7, 0, 1, 0],
      [5, 7, 0, 1, 2],
      [5, 7, 3, 0, 0.5],
      [64, 64, 64, 1, 0],
    ]) {
      const c = { tA: false, tB: true, M, N, K, alpha, beta };
      const o = operands(c, 7);
      const { want, bound } = reference(c, o);
      eachConfig((cfg) => {
        const C = o.C0.slice();
        native!.sgemm(
          false,
          true,
          M,
          N,
          K,
          alpha,
          o.A,
          o.aOff,
          o.lda,
          o.B,
          o.bOff,
          o.ldb,
          beta,
          C,
          o.cOff,
          o.ldc,
        );
        expectClose(C, want, bound, 1e-5, `${cfg} ${JSON.stringify(c)}`);
      });
    }
  });

  it('M = 1 and N = 1 (GEMV paths) with every transpose', () => {
    for (const [M, N, K] of [
      [1, 5760 / 4, 2304 / 4],
      [1, 1000, 701],
      [1, 3, 1],
      [1, 1, 300],
      [700, 1, 513],
      [2, 1, 3],
    ]) {
      for (const [tA, tB] of TRANS) {
        const c = { tA, tB, M, N, K, alpha: 1.5, beta: N === 1 ? 0.5 : 0 };
        const o = operands(c, M + N + K);
        const { want, bound } = reference(c, o);
        eachConfig((cfg) => {
          const C = o.C0.slice();
          native!.sgemm(
            tA,
            tB,
            M,
            N,
            K,
            c.alpha,
            o.A,
            o.aOff,
            o.lda,
            o.B,
            o.bOff,
            o.ldb,
            c.beta,
            C,
            o.cOff,
            o.ldc,
          );
          expectClose(C, want, bound, 1e-5, `${cfg} ${JSON.stringify(c)}`);
        });
      }
    }
  });
});

describe.skipIf(!native)('native sgemmBatched matches the reference', () => {
  const cases = [
    { batch: 3, M: 33, N: 65, K: 17, bcast: '' }, // independent operands
    { batch: 4, M: 65, N: 31, K: 129, bcast: 'A' }, // stride 0: A shared
    { batch: 4, M: 7, N: 129, K: 65, bcast: 'B' }, // stride 0: B shared (a weight)
    { batch: 32, M: 64, N: 64, K: 64, bcast: '' }, // attention heads: many small GEMMs
    { batch: 3, M: 300, N: 257, K: 130, bcast: '' }, // each one threaded
    { batch: 3, M: 16, N: 16, K: 16, bcast: 'C' }, // stride 0 for C: accumulates in order
  ];
  for (const { batch, M, N, K, bcast } of cases) {
    it(`batch ${batch} of ${M}x${N}x${K}${bcast ? `, ${bcast} broadcast` : ''}`, () => {
      for (const [tA, tB] of TRANS) {
        const [ar, ac] = tA ? [K, M] : [M, K],
          [br, bc] = tB ? [N, K] : [K, N];
        const lda = ac + 1,
          ldb = bc + 2,
          ldc = N + 3;
        const sA = bcast === 'A' ? 0 : ar * lda + 5,
          sB = bcast === 'B' ? 0 : br * ldb + 1;
        const sC = bcast === 'C' ? 0 : M * ldc + 2;
        const beta = bcast === 'C' ? 1 : 0.5;
        const A = rand(2 + batch * sA + ar * lda, 1),
          B = rand(3 + batch * sB + br * ldb, 2);
        const C0 = rand(4 + batch * sC + M * ldc, 3);
        const want = C0.slice();
        ref.sgemmBatched(batch, tA, tB, M, N, K, 0.75, A, 2, lda, sA, B, 3, ldb, sB, beta, want, 4, ldc, sC);
        const absA = A.map(Math.abs),
          absB = B.map(Math.abs);
        const bound = C0.map((x) => Math.abs(x) * (bcast === 'C' ? 1 : 0.5));
        ref.sgemmBatched(
          batch,
          tA,
          tB,
          M,
          N,
          K,
          0.75,
          absA,
          2,
          lda,
          sA,
          absB,
          3,
          ldb,
          sB,
          1,
          bound,
          4,
          ldc,
          sC,
        );
        eachConfig((cfg) => {
          const C = C0.slice();
          native!.sgemmBatched(
            batch,
            tA,
            tB,
            M,
            N,
            K,
            0.75,
            A,
            2,
            lda,
            sA,
            B,
            3,
            ldb,
            sB,
            beta,
            C,
            4,
            ldc,
            sC,
          );
          expectClose(C, want, bound, 1e-5, `${cfg} tA=${tA} tB=${tB}`);
        });
      }
    });
  }
});

describe.skipIf(!native)('native gemmBf16 matches the reference', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 257, 513],
    [1, 1000, 701],
    [1, 5, 2],
    [2, 33, 3],
    [3, 17, 64],
    [13, 65, 127],
    [17, 31, 1],
    [65, 129, 33],
    [129, 63, 257],
    [300, 257, 513],
    [31, 1, 65],
    [4, 100, 67],
    [2, 1000, 129],
    [1, 70, 200], // GEMV: one 128-wide step, one 64-wide step, a tail of 8
    [1, 9, 2368],
  ];
  it('every remainder shape (tolerance: A rounds to bf16, 1e-2 of Σ|a·w|)', () => {
    shapes.forEach(([M, N, K], s) => {
      const [alpha, beta] = AB[s % AB.length];
      const lda = K + 3,
        ldw = K + 1,
        ldc = N + 2,
        aOff = 1,
        wOff = 2,
        cOff = 3;
      const A = rand(aOff + M * lda, 10 + s),
        W = toBf16(rand(wOff + N * ldw, 20 + s));
      const C0 =
        beta === 0 ? new Float32Array(cOff + M * ldc + 1).fill(NaN) : rand(cOff + M * ldc + 1, 30 + s);
      const want = C0.slice();
      ref.gemmBf16(M, N, K, alpha, A, aOff, lda, W, wOff, ldw, beta, want, cOff, ldc);
      const Wabs = W.map((h) => h & 0x7fff);
      const bound = C0.map((x) => (Number.isNaN(x) ? 0 : Math.abs(beta * x)));
      ref.gemmBf16(
        M,
        N,
        K,
        Math.abs(alpha),
        A.map(Math.abs),
        aOff,
        lda,
        Wabs,
        wOff,
        ldw,
        1,
        bound,
        cOff,
        ldc,
      );
      for (let i = 0; i < want.length; i++) {
        const r = Math.floor((i - cOff) / ldc),
          col = (i - cOff) % ldc;
        if (i < cOff || r >= M || col >= N) [want[i], bound[i]] = [C0[i], 0];
      }
      eachConfig((cfg, isa) => {
        const C = C0.slice();
        native!.gemmBf16(M, N, K, alpha, A, aOff, lda, W, wOff, ldw, beta, C, cOff, ldc);
        // only vdpbf16ps (AVX-512 BF16, M > 4) rounds A to bf16; every other path widens W exactly
        // and keeps A in f32, so it is held to the f32 tolerance
        const dp = isa === 'avx512' && bf16Dot && M > 4;
        expectClose(C, want, bound, dp ? 1e-2 : 1e-5, `${cfg} bf16 ${M}x${N}x${K}`);
      });
    });
  });
});

describe.skipIf(!native)('native GEMV over 64-byte aligned weight rows (streaming loads)', () => {
  // the other cases use odd offsets and leading dims, so their rows are mostly unaligned: here every
  // row starts on a cache line (aligned buffer, offset and ldw multiples of 64 bytes), as model weights do
  const cases: [number, number, number][] = [
    [7, 64, 64],
    [33, 80, 96],
    [65, 129, 160],
    [3, 2304 / 4 + 5, 2304 / 4 + 16],
  ];
  it('f32 and bf16 weights, odd K tails, k < ldw', () => {
    cases.forEach(([N, K, ldw], s) => {
      const x = rand(K, 40 + s);
      const xAbs = x.map(Math.abs);
      // weights start 16 f32 / 32 bf16 elements (64 bytes) into the aligned buffer
      const wf = new Float32Array(native!.alignedBuffer(4 * (16 + N * ldw)));
      wf.set(rand(wf.length, 50 + s));
      const wb = new Uint16Array(native!.alignedBuffer(2 * (32 + N * ldw)));
      wb.set(toBf16(rand(wb.length, 60 + s)));
      const f32 = (k: typeof ref, xs: Float32Array, w: Float32Array, C: Float32Array) =>
        k.sgemm(false, true, 1, N, K, 1, xs, 0, K, w, 16, ldw, 0, C, 0, N);
      const bf16 = (k: typeof ref, xs: Float32Array, w: Uint16Array, C: Float32Array) =>
        k.gemmBf16(1, N, K, 1, xs, 0, K, w, 32, ldw, 0, C, 0, N);
      const check = (what: string, go: (k: typeof ref, C: Float32Array) => void, bound: Float32Array) => {
        const want = new Float32Array(N);
        go(ref, want);
        eachConfig((cfg) => {
          const C = new Float32Array(N).fill(NaN);
          go(native!, C);
          expectClose(C, want, bound, 1e-5, `${cfg} ${what} ${N}x${K} ldw ${ldw}`);
        });
      };
      const boundF = new Float32Array(N);
      f32(ref, xAbs, wf.map(Math.abs), boundF);
      check('f32', (k, C) => f32(k, x, wf, C), boundF);
      const boundB = new Float32Array(N);
      bf16(
        ref,
        xAbs,
        wb.map((h) => h & 0x7fff),
        boundB,
      );
      check('bf16', (k, C) => bf16(k, x, wb, C), boundB);
    });
  });
});

describe.skipIf(!native)('native gemvMany matches the reference', () => {
  // row counts that split unevenly over 64-row tiles and threads, K with odd tails
  const cases: { K: number; ns: number[] }[] = [
    { K: 1, ns: [1, 2] },
    { K: 33, ns: [65, 1, 130] },
    { K: 67, ns: [7, 129] },
    { K: 576, ns: [576, 144, 144] }, // q/k/v of a 4-head toy with GQA
    { K: 300, ns: [700, 700, 3, 5, 1, 64, 63, 2] },
  ];
  it('f32 and bf16 weights at offsets; outputs follow one another', () => {
    cases.forEach(({ K, ns }, s) => {
      const x = rand(3 + K, 70 + s);
      const wf = ns.map((n, i) => rand(5 + i + n * K, 80 + s * 8 + i));
      const wb = wf.map(toBf16);
      const offs = ns.map((_, i) => 5 + i);
      const total = ns.reduce((a, b) => a + b, 0);
      for (const ws of [wf, wb]) {
        const want = new Float32Array(total + 4).fill(NaN);
        ref.gemvMany!(x, 3, K, ws, offs, ns, want, 2);
        const abs = ws.map((w) => (w instanceof Uint16Array ? w.map((h) => h & 0x7fff) : w.map(Math.abs)));
        const bound = new Float32Array(total + 4);
        ref.gemvMany!(x.map(Math.abs), 3, K, abs, offs, ns, bound, 2);
        eachConfig((cfg) => {
          const y = new Float32Array(total + 4).fill(NaN);
          native!.gemvMany!(x, 3, K, ws, offs, ns, y, 2);
          expectClose(y, want, bound, 1e-5, `${cfg} ${ws === wf ? 'f32' : 'bf16'} K ${K} ns ${ns}`);
        });
      }
    });
  });

  it('rejects mixed dtypes, windows that do not fit and too many weights', () => {
    const k = native!;
    const x = new Float32Array(8),
      y = new Float32Array(6).fill(7);
    const w = new Float32Array(24);
    expect(() => k.gemvMany!(x, 0, 8, [w, new Uint16Array(24)], [0, 0], [3, 3], y, 0)).toThrow(TypeError);
    expect(() => k.gemvMany!(x, 0, 8, [w, w], [0, 1], [3, 3], y, 0)).toThrow(/W is too small/);
    expect(() => k.gemvMany!(x, 1, 8, [w, w], [0, 0], [3, 3], y, 0)).toThrow(/x is too small/);
    expect(() => k.gemvMany!(x, 0, 8, [w, w], [0, 0], [3, 3], y, 1)).toThrow(/y is too small/);
    expect(() => k.gemvMany!(x, 0, 8, [w, w], [0], [3, 3], y, 0)).toThrow(RangeError);
    expect(() =>
      k.gemvMany!(x, 0, 1, new Array(9).fill(w), new Array(9).fill(0), new Array(9).fill(1), y, 0),
    ).toThrow(RangeError);
    expect(Array.from(y)).toEqual(new Array(6).fill(7));
  });
});

describe('fallback when the addon is missing', () => {
  it('warns once and returns null; MINICPM_BACKEND=ref is silent', () => {
    // a copy of the loader in a folder with no build/ next to it
    const dir = mkdtempSync(join(tmpdir(), 'minicpm-native-'));
    try {
      copyFileSync('src/backends/kernels-native.ts', join(dir, 'kernels-native.ts'));
      copyFileSync('src/backends/kernels.ts', join(dir, 'kernels.ts'));
      copyFileSync('src/backends/kernel-errors.ts', join(dir, 'kernel-errors.ts'));
      const main = join(dir, 'main.ts');
      writeFileSync(
        main,
        "import { loadNativeKernels as l } from './kernels-native.js';\nconsole.log(l() === null && l() === null);\n",
      );
      const run = (env: Record<string, string>) =>
        spawnSync(process.execPath, ['--import', 'tsx', main], {
          encoding: 'utf8',
          env: { ...process.env, ...env },
        });
      const missing = run({ MINICPM_BACKEND: '' });
      expect(missing.stdout.trim()).toBe('true');
      expect(missing.stderr.match(/TypeScript reference backend/g)?.length).toBe(1);
      expect(missing.stderr).toMatch(/npm run build-native/);
      const silent = run({ MINICPM_BACKEND: 'ref' });
      expect(silent.stdout.trim()).toBe('true');
      expect(silent.stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
