/**
 * The row-exact multi-row GEMV (native/src/gemv-rows*.c): every row of the result is bitwise the
 * single-row GEMV's (gemmBf16 / sgemm with M = 1) on every ISA and thread count, for row counts that
 * leave every remainder of the row blocks (f32: row groups of 4, register blocks of 4 rows x 5 outputs;
 * bf16: register tiles of 4 rows x 3 outputs, passes of 16 rows) and K that end in every loop of the row
 * kernels (bf16: steps of 32, then a masked tail; f32: 64, then a masked 16); and it agrees with its
 * TypeScript twin (kernels-ref-gemm.ts), which is itself bitwise its own M = 1 product.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels, type NativeIsa } from '../../src/backends/kernels-native.js';
import { refGemmKernels as ref } from '../../src/backends/kernels-ref-gemm.js';

const native = loadNativeKernels();

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

/** K ending in each loop of the row kernels; N over tiles, 64-row thread granules and their remainders. */
const KS = [1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 127, 128, 129, 160, 191, 192, 193, 255, 256, 257, 300];
const MS = [2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17];
const NS = [1, 7, 65, 300];

interface Operands {
  X: Float32Array;
  W: Float32Array | Uint16Array;
  xOff: number;
  ldx: number;
  wOff: number;
  ldw: number;
}

function operands(M: number, N: number, K: number, bf16: boolean, seed: number): Operands {
  const xOff = 3,
    ldx = K + 5,
    wOff = 2,
    ldw = K + 3;
  const X = rand(xOff + M * ldx, seed);
  const Wf = rand(wOff + N * ldw, seed + 1);
  return { X, W: bf16 ? toBf16(Wf) : Wf, xOff, ldx, wOff, ldw };
}

type Kernels = NonNullable<ReturnType<typeof loadNativeKernels>> | typeof ref;

/** Row i alone through the kernels' M = 1 product. */
function rowAlone(k: Kernels, o: Operands, i: number, N: number, K: number): Float32Array {
  const y = new Float32Array(N);
  if (o.W instanceof Uint16Array)
    k.gemmBf16(1, N, K, 1, o.X, o.xOff + i * o.ldx, o.ldx, o.W, o.wOff, o.ldw, 0, y, 0, N);
  else k.sgemm(false, true, 1, N, K, 1, o.X, o.xOff + i * o.ldx, o.ldx, o.W, o.wOff, o.ldw, 0, y, 0, N);
  return y;
}

/** gemvRows into Y with ldy N + 2 from offset 1; the padding must keep its sentinels. */
function rows(k: Kernels, o: Operands, M: number, N: number, K: number): Float32Array {
  const ldy = N + 2;
  const Y = new Float32Array(1 + M * ldy + 1).fill(-7);
  k.gemvRows!(M, N, K, o.X, o.xOff, o.ldx, o.W, o.wOff, o.ldw, Y, 1, ldy);
  for (let i = 0; i < M; i++) {
    expect(Y[1 + i * ldy + N]).toBe(-7);
    expect(Y[1 + i * ldy + N + 1]).toBe(-7);
  }
  expect(Y[0]).toBe(-7);
  return Y;
}

function expectRowsBitwise(k: Kernels, what: string, M: number, N: number, K: number, bf16: boolean): void {
  const o = operands(M, N, K, bf16, M * 1000 + N * 10 + K);
  const Y = rows(k, o, M, N, K);
  const ldy = N + 2;
  for (let i = 0; i < M; i++) {
    const alone = rowAlone(k, o, i, N, K);
    const got = Y.subarray(1 + i * ldy, 1 + i * ldy + N);
    // bit patterns, so that -0 / +0 and NaN payloads count too
    const a = new Uint32Array(alone.buffer),
      b = new Uint32Array(got.slice().buffer);
    if (a.some((v, j) => v !== b[j]))
      expect.fail(
        `${what} ${bf16 ? 'bf16' : 'f32'} M ${M} N ${N} K ${K}: row ${i} differs from its M = 1 product`,
      );
  }
}

describe('reference gemvRows (the twin)', () => {
  it('equals its own M = 1 product row by row, bitwise', () => {
    for (const bf16 of [false, true])
      for (const K of [1, 17, 129]) expectRowsBitwise(ref, 'ref', 5, 7, K, bf16);
  });
});

const best = native?.features().isa;
const threads0 = native?.getThreads() ?? 1;
const isas: NativeIsa[] = native
  ? (['avx512', 'avx2', 'scalar'] as const).filter((isa) => native.setIsa(isa))
  : [];
if (native && best) native.setIsa(best);

afterAll(() => {
  if (native && best) {
    native.setIsa(best);
    native.setThreads(threads0);
  }
});

describe.skipIf(!native)('native gemvRows', () => {
  it('every row bitwise equals the single-row GEMV (every ISA, 1 and 2 threads, every remainder)', () => {
    for (const isa of isas)
      for (const t of [1, 2]) {
        native!.setIsa(isa);
        native!.setThreads(t);
        for (const bf16 of [false, true])
          for (const K of KS)
            for (const M of MS) for (const N of NS) expectRowsBitwise(native!, `${isa} ${t}t`, M, N, K, bf16);
      }
    native!.setIsa(best!);
    native!.setThreads(threads0);
  });

  it('register-blocked kernels: rows 1..17, every output remainder of their 3- and 5-wide blocks', () => {
    // bf16 tiles of 4 rows x 3 outputs (gemv-rows-bf16-avx512.c), f32 blocks of 4 x 5 from 3 rows on
    // (gemv-rows-tiled-f32-avx512.c): N covers every remainder mod 3 and mod 5, and N past PF_BLOCKS
    // blocks runs the prefetch to the range's end
    for (const t of [1, 2]) {
      native!.setThreads(t);
      for (const bf16 of [true, false])
        for (let M = 1; M <= 17; M++)
          for (const N of [1, 4, 8, 9, 12, 23, 66, 131])
            for (const K of [17, 63, 64, 127, 128, 191, 257, 300])
              expectRowsBitwise(native!, `tiled ${t}t`, M, N, K, bf16);
    }
    native!.setThreads(threads0);
  });

  it('bitwise on a decode-sized weight split over threads (2304 x 1600, 8 and 16 rows)', () => {
    native!.setThreads(2);
    for (const bf16 of [false, true])
      for (const M of [8, 16]) expectRowsBitwise(native!, 'large', M, 1600, 2304, bf16);
    for (const bf16 of [false, true])
      for (const M of [4, 8]) expectRowsBitwise(native!, 'large', M, 300, 5760, bf16); // the MLP's down shape
    native!.setThreads(threads0);
  });

  it('agrees with the twin to f32 rounding', () => {
    for (const bf16 of [false, true])
      for (const [M, N, K] of [
        [5, 65, 300],
        [16, 7, 129],
      ]) {
        const o = operands(M, N, K, bf16, 42);
        const got = rows(native!, o, M, N, K);
        const want = rows(ref, o, M, N, K);
        const W = o.W instanceof Uint16Array ? o.W.map((w) => w & 0x7fff) : o.W.map(Math.abs);
        const bound = rows(ref, { ...o, X: o.X.map(Math.abs), W }, M, N, K); // Σ|x·w|
        for (let i = 0; i < got.length; i++)
          expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6 * Math.abs(bound[i]));
      }
  });

  it('empty and K = 0 shapes, and windows that do not fit are refused', () => {
    const Y = new Float32Array(6).fill(3);
    native!.gemvRows!(2, 3, 0, new Float32Array(0), 0, 0, new Float32Array(0), 0, 0, Y, 0, 3);
    expect([...Y]).toEqual([0, 0, 0, 0, 0, 0]);
    native!.gemvRows!(0, 3, 4, new Float32Array(0), 0, 4, new Float32Array(0), 0, 4, Y, 0, 3);
    const X = new Float32Array(8),
      W = new Uint16Array(12);
    expect(() => native!.gemvRows!(2, 3, 4, X, 1, 4, W, 0, 4, Y, 0, 3)).toThrow(/X: .* does not fit/);
    expect(() => native!.gemvRows!(2, 3, 4, X, 0, 4, W, 1, 4, Y, 0, 3)).toThrow(/W: .* does not fit/);
    expect(() => native!.gemvRows!(2, 3, 4, X, 0, 4, W, 0, 4, Y, 1, 3)).toThrow(/Y: .* does not fit/);
    expect(() => native!.gemvRows!(2, 3, 4, X, 0, 3, W, 0, 4, Y, 0, 3)).toThrow(/leading dimension/);
    expect(() =>
      native!.gemvRows!(2, 3, 4, X, 0, 4, new Int32Array(12) as unknown as Uint16Array, 0, 4, Y, 0, 3),
    ).toThrow(TypeError);
  });
});
