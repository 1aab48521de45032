/**
 * The wasm module's quantized matmul against the TypeScript twin: the SIMD128 tiles bit for bit (they
 * round as the twin does), the portable path (fused block multiply-add, the native C) to f32 rounding of
 * the block sums; W2, W4 and W8, 1 and 2 threads, token rows 1..9 (the 4-row groups, decode and prefill
 * splits), rows not a multiple of 16, several fused weights, act-order perm, offsets and padded leading
 * dims, subnormal fp16 scales, operands staged or resident in wasm memory; W2 through the W4 tiles on
 * unpacked bit pairs; argument checks.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { wasmKernels } from '../../src/backends/index.js';
import { refQuantKernels as ref, type QuantKernels } from '../../src/backends/quant.js';
import { f32ToF16 } from '../../src/tensor/dtype.js';
import { rng } from '../native/qprefill-helpers.js';

const k = wasmKernels();

interface Case {
  bits: 2 | 4 | 8;
  M: number;
  K: number;
  ns: number[];
  perm: boolean;
}

interface Operands {
  x: Float32Array;
  perm: Int32Array | null;
  codes: Uint8Array[];
  scales: Uint16Array[];
  zeros: Uint8Array[];
  ldx: number;
  ldy: number;
  yLen: number;
}

function operands(c: Case, seed: number): Operands {
  const r = rng(seed);
  const ldx = c.K + 3;
  const x = new Float32Array(5 + c.M * ldx);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * (i % 7 === 0 ? 4 : 1);
  x.fill(0, 5, 5 + Math.min(32, c.K)); // an all-zero block: d = 0
  const B = c.K / 32;
  const codes: Uint8Array[] = [],
    scales: Uint16Array[] = [],
    zeros: Uint8Array[] = [];
  for (const n of c.ns) {
    const tiles = Math.ceil(n / 16);
    const cb = new Uint8Array(tiles * B * 64 * c.bits);
    for (let i = 0; i < cb.length; i++) cb[i] = Math.floor(r() * 256);
    const sc = new Uint16Array(tiles * B * 16),
      z = new Uint8Array(tiles * B * 16);
    for (let i = 0; i < sc.length; i++) {
      // every 11th scale a subnormal half (the exact widening's other branch)
      sc[i] = i % 11 === 3 ? 1 + Math.floor(r() * 1023) : f32ToF16(0.001 + 0.05 * r());
      z[i] = Math.floor(r() * (c.bits === 8 ? 256 : c.bits === 4 ? 17 : 5));
    }
    codes.push(cb);
    scales.push(sc);
    zeros.push(z);
  }
  let perm: Int32Array | null = null;
  if (c.perm) {
    perm = Int32Array.from({ length: c.K }, (_, i) => i);
    for (let i = c.K - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
  }
  const total = c.ns.reduce((a, b) => a + b, 0);
  return { x, perm, codes, scales, zeros, ldx, ldy: total + 2, yLen: 4 + c.M * (total + 2) + 3 };
}

function run(kk: QuantKernels, c: Case, o: Operands, y = new Float32Array(o.yLen).fill(NaN)): Float32Array {
  kk.qmatmul(c.M, c.K, c.bits, o.x, 5, o.ldx, o.perm, o.codes, o.scales, o.zeros, c.ns, y, 4, o.ldy);
  return y;
}

/** A copy in wasm memory (where the backend's allocator puts weights and activations). */
function inWasm<T extends Float32Array | Uint16Array | Uint8Array>(a: T): T {
  const p = k.rt.alloc(a.byteLength);
  const C = a.constructor as new (b: ArrayBufferLike, off: number, n: number) => T;
  const out = new C(k.rt.buffer(), p, a.length);
  (out as Uint8Array).set(a);
  return out;
}

const cases: Case[] = [];
for (const bits of [2, 4, 8] as const) {
  for (const M of [1, 2, 3, 4, 5, 9]) {
    cases.push({ bits, M, K: 32, ns: [1], perm: false });
    cases.push({ bits, M, K: 96, ns: [17], perm: true });
    cases.push({ bits, M, K: 64, ns: [16, 33, 5], perm: false });
  }
  cases.push({ bits, M: 1, K: 320, ns: [130, 64], perm: true });
  cases.push({ bits, M: 7, K: 128, ns: [300], perm: true });
  cases.push({ bits, M: 1, K: 1024, ns: [600], perm: false }); // decode split over threads
}
const name = (c: Case) => `W${c.bits} M=${c.M} K=${c.K} ns=${c.ns.join('+')}${c.perm ? ' perm' : ''}`;

beforeAll(async () => {
  k.setThreads(2);
  await vi.waitFor(() => expect(k.rt.workersOnline()).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
});
afterAll(() => {
  k.setIsa('simd128');
  k.setThreads(2);
});

describe('wasm quantized matmul', () => {
  it('quantizes activations exactly as the twin', () => {
    for (const [M, K, perm] of [
      [1, 64, false],
      [3, 96, true],
    ] as const) {
      const o = operands({ bits: 4, M, K, ns: [16], perm }, 5 + M);
      const got = [
        new Int8Array(M * K),
        new Float32Array((M * K) / 32),
        new Int32Array((M * K) / 32),
      ] as const;
      const want = [
        new Int8Array(M * K),
        new Float32Array((M * K) / 32),
        new Int32Array((M * K) / 32),
      ] as const;
      k.qquantize(M, K, o.x, 5, o.ldx, o.perm, ...got);
      ref.qquantize(M, K, o.x, 5, o.ldx, o.perm, ...want);
      for (let i = 0; i < 3; i++) expect(Array.from(got[i])).toEqual(Array.from(want[i]));
    }
  });

  for (const t of [1, 2])
    it(`simd128, ${t} thread(s): bit-identical to the twin on every remainder path`, () => {
      k.setIsa('simd128');
      k.setThreads(t);
      cases.forEach((c, i) => {
        const o = operands(c, 100 + i);
        const want = run(ref, c, o);
        const got = run(k, c, o);
        for (let j = 0; j < want.length; j++)
          if (!Object.is(got[j], want[j]))
            expect.fail(`${name(c)}: y[${j}] is ${got[j]}, the twin's ${want[j]}`);
      });
    });

  it('portable path (fused multiply-add): within f32 rounding of the block sums', () => {
    k.setIsa('scalar');
    k.setThreads(2);
    onTestFinished(() => void k.setIsa('simd128'));
    cases.forEach((c, i) => {
      const o = operands(c, 300 + i);
      const want = run(ref, c, o);
      const got = run(k, c, o);
      const B = c.K / 32;
      for (let j = 0; j < want.length; j++) {
        if (Number.isNaN(want[j])) {
          expect(got[j], `${name(c)} padding ${j}`).toBeNaN();
          continue;
        }
        // each of the B block terms is rounded once more or less: a few ulps of the terms (which are
        // of order 1 here, larger than a sum that cancels); a layout or integer error is far above it
        const tol = 4 * B * 2 ** -23 * Math.max(Math.abs(want[j]), 8);
        if (!(Math.abs(got[j] - want[j]) <= tol))
          expect.fail(`${name(c)}: y[${j}] is ${got[j]}, the twin's ${want[j]} (tolerance ${tol})`);
      }
    });
  });

  it('uses operands resident in wasm memory in place', () => {
    const c: Case = { bits: 4, M: 5, K: 128, ns: [40, 17], perm: true };
    const o = operands(c, 77);
    const want = run(ref, c, o);
    const resident: Operands = {
      ...o,
      x: inWasm(o.x),
      codes: o.codes.map(inWasm),
      scales: o.scales.map(inWasm),
      zeros: o.zeros.map(inWasm),
    };
    const y = inWasm(new Float32Array(o.yLen).fill(NaN));
    run(k, c, resident, y);
    expect(Array.from(y)).toEqual(Array.from(want));
  });

  it('rejects bad arguments with RangeErrors before touching memory', () => {
    const c: Case = { bits: 4, M: 2, K: 64, ns: [16], perm: false };
    const o = operands(c, 9);
    const y = new Float32Array(o.yLen).fill(7);
    const call = (over: Partial<{ bits: number; K: number; ns: number[]; ldy: number; perm: Int32Array }>) =>
      k.qmatmul(
        c.M,
        over.K ?? c.K,
        over.bits ?? c.bits,
        o.x,
        5,
        o.ldx,
        over.perm ?? null,
        o.codes,
        o.scales,
        o.zeros,
        over.ns ?? c.ns,
        y,
        4,
        over.ldy ?? o.ldy,
      );
    expect(() => call({ bits: 3 })).toThrow(/bits must be 2, 4 or 8/);
    expect(() => call({ K: 48 })).toThrow(/multiple of 32/);
    expect(() => call({ ns: [17] })).toThrow(/too small/);
    expect(() => call({ ns: [16, 16] })).toThrow(/same length/);
    expect(() => call({ ldy: 3 })).toThrow(/ldy = 3/);
    expect(() => call({ perm: new Int32Array(64).fill(64) })).toThrow(/perm\[0\] = 64/);
    expect(Array.from(y)).toEqual(new Array(o.yLen).fill(7));
  });
});
