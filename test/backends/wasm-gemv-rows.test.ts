/**
 * The wasm module's row-exact multi-row GEMV (native/wasm/gemv-rows-simd128.c): every row of the result
 * bitwise the module's own single-row GEMV (sgemm / gemmBf16 with M = 1) on the SIMD128 and the
 * portable tables, 1 and 2 threads, for row counts leaving every remainder of the 2-row groups and K
 * ending in every part of the row loop (steps of 16, one of 8, then a scalar tail); a decode-sized weight split
 * over threads; operands staged or resident in wasm memory; agreement with the TypeScript twin to f32
 * rounding; empty shapes and argument checks. Then the wasm backend's batched decode: each sequence's
 * greedy ids equal those it gets decoded alone.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { wasmKernels } from '../../src/backends/index.js';
import { refGemmKernels as ref } from '../../src/backends/kernels-ref-gemm.js';
import type { GemmKernels } from '../../src/backends/kernels.js';

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
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}

/** K ending in every part of the row loop (steps of 8, a tail of 0..7); N over 64-row thread granules. */
const KS = [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 129];
const MS = [2, 3, 4, 5, 6, 7, 8, 9, 13];
const NS = [1, 7, 65, 130];

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

/** A copy in wasm memory (where the backend's allocator puts weights and activations). */
function inWasm<T extends Float32Array | Uint16Array>(a: T): T {
  const p = k.rt.alloc(a.byteLength);
  const C = a.constructor as new (b: ArrayBufferLike, off: number, n: number) => T;
  const out = new C(k.rt.buffer(), p, a.length);
  out.set(a);
  return out;
}

/** Row i alone through the kernels' M = 1 product. */
function rowAlone(kk: GemmKernels, o: Operands, i: number, N: number, K: number): Float32Array {
  const y = new Float32Array(N);
  if (o.W instanceof Uint16Array)
    kk.gemmBf16(1, N, K, 1, o.X, o.xOff + i * o.ldx, o.ldx, o.W, o.wOff, o.ldw, 0, y, 0, N);
  else kk.sgemm(false, true, 1, N, K, 1, o.X, o.xOff + i * o.ldx, o.ldx, o.W, o.wOff, o.ldw, 0, y, 0, N);
  return y;
}

/** gemvRows into Y with ldy N + 2 from offset 1; the padding must keep its sentinels. */
function rows(kk: GemmKernels, o: Operands, M: number, N: number, K: number, Y?: Float32Array): Float32Array {
  const ldy = N + 2;
  Y ??= new Float32Array(1 + M * ldy + 1);
  Y.fill(-7);
  kk.gemvRows!(M, N, K, o.X, o.xOff, o.ldx, o.W, o.wOff, o.ldw, Y, 1, ldy);
  for (let i = 0; i < M; i++) {
    expect(Y[1 + i * ldy + N]).toBe(-7);
    expect(Y[1 + i * ldy + N + 1]).toBe(-7);
  }
  expect(Y[0]).toBe(-7);
  return Y;
}

function expectRowsBitwise(
  what: string,
  M: number,
  N: number,
  K: number,
  bf16: boolean,
  resident = false,
): void {
  let o = operands(M, N, K, bf16, M * 1000 + N * 10 + K);
  const ldy = N + 2;
  let Y: Float32Array | undefined;
  if (resident) {
    o = { ...o, X: inWasm(o.X), W: inWasm(o.W) };
    Y = inWasm(new Float32Array(1 + M * ldy + 1));
  }
  Y = rows(k, o, M, N, K, Y);
  for (let i = 0; i < M; i++) {
    const alone = rowAlone(k, o, i, N, K);
    const got = Y.slice(1 + i * ldy, 1 + i * ldy + N);
    // bit patterns, so that -0 / +0 and NaN payloads count too
    const a = new Uint32Array(alone.buffer),
      b = new Uint32Array(got.buffer);
    if (a.some((v, j) => v !== b[j]))
      expect.fail(
        `${what} ${bf16 ? 'bf16' : 'f32'} M ${M} N ${N} K ${K}: row ${i} differs from its M = 1 product`,
      );
  }
}

beforeAll(async () => {
  k.setThreads(2);
  await vi.waitFor(() => expect(k.rt.workersOnline()).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
});
afterAll(() => {
  k.setIsa('simd128');
  k.setThreads(2);
});

describe('wasm gemvRows', () => {
  it('every row bitwise equals the single-row GEMV (simd128 and scalar, 1 and 2 threads, every remainder)', () => {
    for (const isa of ['simd128', 'scalar'] as const)
      for (const t of [1, 2]) {
        expect(k.setIsa(isa)).toBe(true);
        k.setThreads(t);
        for (const bf16 of [false, true])
          for (const K of KS)
            for (const M of MS) for (const N of NS) expectRowsBitwise(`${isa} ${t}t`, M, N, K, bf16);
      }
    k.setIsa('simd128');
    k.setThreads(2);
  });

  it('bitwise on a decode-sized weight split over threads, operands resident in wasm memory', () => {
    k.setThreads(2);
    for (const bf16 of [false, true])
      for (const M of [4, 7]) expectRowsBitwise('large', M, 640, 1152, bf16, true);
  });

  it('agrees with the twin to f32 rounding', () => {
    for (const bf16 of [false, true])
      for (const [M, N, K] of [
        [5, 65, 300],
        [9, 7, 129],
      ]) {
        const o = operands(M, N, K, bf16, 42);
        const got = rows(k, o, M, N, K);
        const want = rows(ref, o, M, N, K);
        const W = o.W instanceof Uint16Array ? o.W.map((w) => w & 0x7fff) : o.W.map(Math.abs);
        const bound = rows(ref, { ...o, X: o.X.map(Math.abs), W }, M, N, K); // Σ|x·w|
        for (let i = 0; i < got.length; i++)
          expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6 * Math.abs(bound[i]));
      }
  });

  it('empty and K = 0 shapes, and windows that do not fit are refused', () => {
    const Y = new Float32Array(6).fill(3);
    k.gemvRows(2, 3, 0, new Float32Array(0), 0, 0, new Float32Array(0), 0, 0, Y, 0, 3);
    expect([...Y]).toEqual([0, 0, 0, 0, 0, 0]);
    Y.fill(3);
    k.gemvRows(0, 3, 4, new Float32Array(0), 0, 4, new Float32Array(0), 0, 4, Y, 0, 3);
    expect([...Y]).toEqual([3, 3, 3, 3, 3, 3]);
    const X = new Float32Array(8),
      W = new Uint16Array(12);
    expect(() => k.gemvRows(2, 3, 4, X, 1, 4, W, 0, 4, Y, 0, 3)).toThrow(RangeError);
    expect(() => k.gemvRows(2, 3, 4, X, 0, 4, W, 1, 4, Y, 0, 3)).toThrow(RangeError);
    expect(() => k.gemvRows(2, 3, 4, X, 0, 4, W, 0, 4, Y, 1, 3)).toThrow(RangeError);
    expect(() => k.gemvRows(2, 3, 4, X, 0, 3, W, 0, 4, Y, 0, 3)).toThrow(/smaller than the row length/);
    expect(() => k.gemvRows(2, 3, -1, X, 0, 4, W, 0, 4, Y, 0, 3)).toThrow(/non-negative integer/);
    expect(() =>
      k.gemvRows(2, 3, 4, X, 0, 4, new Int32Array(12) as unknown as Uint16Array, 0, 4, Y, 0, 3),
    ).toThrow(TypeError);
  });
});
