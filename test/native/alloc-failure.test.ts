/**
 * The native kernels' one allocation-failure policy (native/src/internal.h): a kernel that cannot get
 * memory — per-call buffers from the checked allocator, per-thread scratch from the pool, on the
 * caller's thread or a worker's — stops and the binding throws KernelMemoryError naming the kernel and
 * the bytes, instead of aborting the process or writing through a null pointer. The failures are forced
 * with the addon's test hook (every allocation at or above a size fails); once it is lifted the same
 * calls give the same results as before the failure.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KernelMemoryError } from '../../src/backends/kernel-errors.js';
import { loadNativeKernels, type NativeKernels } from '../../src/backends/kernels-native.js';
import type { NnKernels } from '../../src/backends/kernels.js';

// the addon's NN functions, which the backend reaches through nnKernelsOf
const native = loadNativeKernels() as (NativeKernels & NnKernels) | null;

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

/** The error a call throws (fails the test when it throws none). */
function thrown(f: () => void): KernelMemoryError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KernelMemoryError);
    return e as KernelMemoryError;
  }
  throw new Error('expected a KernelMemoryError');
}

describe.skipIf(!native)('native allocation failures reach JavaScript as KernelMemoryError', () => {
  const k = native!;
  afterEach(() => k.testAllocLimit(0));

  it('attentionBwd: the checked allocator fails on every pool task, named and sized', () => {
    // B·Hkv = 2 pairs and enough work for two tasks: the failure happens on a worker thread too
    const B = 2,
      T = 256,
      S = 256,
      H = 1,
      D = 8,
      n = B * T * H * D;
    const q = rand(n, 1),
      kk = rand(n, 2),
      v = rand(n, 3),
      dout = rand(n, 4);
    const out = new Float32Array(n),
      lse = new Float32Array(B * H * T);
    k.attentionFwd(q, 0, kk, 0, v, 0, out, 0, lse, 0, B, T, S, H, H, D, 0, 1, 0.35);
    const run = () => {
      const g = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      k.attentionBwd(
        q,
        0,
        kk,
        0,
        v,
        0,
        out,
        0,
        lse,
        0,
        dout,
        0,
        g[0],
        0,
        g[1],
        0,
        g[2],
        0,
        B,
        T,
        S,
        H,
        H,
        D,
        0,
        1,
        0.35,
      );
      return g;
    };
    const before = run();
    k.testAllocLimit(1024);
    const e = thrown(run);
    expect(e.kernel).toBe('attentionBwd');
    // P and dP (64 × S each) and delta (T), in floats
    expect(e.bytes).toBe(4 * (2 * 64 * S + T));
    expect(e.message).toMatch(/attentionBwd ran out of memory: attention_bwd could not allocate \d+ bytes/);
    expect(e.message).toMatch(/retry/);
    k.testAllocLimit(0);
    const after = run();
    for (let i = 0; i < 3; i++) expect(after[i]).toEqual(before[i]);
  });

  it('attentionFwd decode: scratch that cannot grow is reported as the kernel failing', () => {
    // one query row over 200,000 keys and 64 heads: each task's score rows need megabytes of scratch
    const S = 200_000,
      Hq = 64,
      D = 2;
    const q = rand(Hq * D, 5),
      kk = rand(S * D, 6),
      v = rand(S * D, 7);
    const out = new Float32Array(Hq * D),
      lse = new Float32Array(Hq);
    k.testAllocLimit(4 << 20);
    const e = thrown(() =>
      k.attentionFwd(q, 0, kk, 0, v, 0, out, 0, lse, 0, 1, 1, S, Hq, 1, D, S - 1, 1, 0.7),
    );
    expect(e.kernel).toBe('attentionFwd');
    expect(e.bytes).toBeGreaterThanOrEqual(4 << 20);
    expect(e.message).toContain('scratch could not allocate');
    k.testAllocLimit(0);
    k.attentionFwd(q, 0, kk, 0, v, 0, out, 0, lse, 0, 1, 1, S, Hq, 1, D, S - 1, 1, 0.7);
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('rmsnormBwd, attentionFwdBf16Kv (prefill widening) and sgemm follow the same policy', () => {
    const rows = 64,
      D = 96;
    const x = rand(rows * D, 8),
      g = rand(D, 9),
      dy = rand(rows * D, 10);
    const y = new Float32Array(rows * D),
      rstd = new Float32Array(rows);
    k.rmsnormFwd(x, 0, g, 0, y, 0, rstd, 0, rows, D, 1e-5);
    k.testAllocLimit(1);
    const e1 = thrown(() =>
      k.rmsnormBwd(
        x,
        0,
        g,
        0,
        rstd,
        0,
        dy,
        0,
        new Float32Array(rows * D),
        0,
        new Float32Array(D),
        0,
        rows,
        D,
      ),
    );
    expect(e1.kernel).toBe('rmsnormBwd');
    expect(e1.message).toContain('rmsnorm_bwd could not allocate');

    const T = 4,
      S = 4,
      H = 2,
      hd = 8;
    // on AVX-512 prefill reads the bf16 cache in place (attention-prefill.test.ts covers its scratch):
    // the widening copy is the path below it
    const isa0 = k.features().isa;
    if (isa0 === 'avx512') k.setIsa('avx2');
    const e2 = thrown(() =>
      k.attentionFwdBf16Kv(
        rand(T * H * hd, 11),
        0,
        new Uint16Array(S * H * hd).fill(0x3f80),
        0,
        new Uint16Array(S * H * hd),
        0,
        new Float32Array(T * H * hd),
        0,
        new Float32Array(H * T),
        0,
        1,
        T,
        S,
        H,
        H,
        hd,
        0,
        1,
        0.35,
      ),
    );
    k.setIsa(isa0);
    expect(e2.kernel).toBe('attentionFwdBf16Kv');
    expect(e2.bytes).toBe(4 * S * H * hd);

    // wider than any earlier call's packed B panel, so the scratch must grow
    const M = 64,
      N = 2048,
      K = 512;
    const e3 = thrown(() =>
      k.sgemm(
        false,
        false,
        M,
        N,
        K,
        1,
        rand(M * K, 12),
        0,
        K,
        rand(K * N, 13),
        0,
        N,
        0,
        new Float32Array(M * N),
        0,
        N,
      ),
    );
    expect(e3.kernel).toBe('sgemm');
  });

  it('a failure is reported once: the next call after lifting the hook succeeds', () => {
    k.testAllocLimit(1);
    expect(() =>
      k.rmsnormBwd(
        rand(64, 1),
        0,
        rand(8, 2),
        0,
        new Float32Array(8).fill(1),
        0,
        rand(64, 3),
        0,
        new Float32Array(64),
        0,
        new Float32Array(8),
        0,
        8,
        8,
      ),
    ).toThrow(KernelMemoryError);
    k.testAllocLimit(0);
    const dg = new Float32Array(8);
    k.rmsnormBwd(
      rand(64, 1),
      0,
      rand(8, 2),
      0,
      new Float32Array(8).fill(1),
      0,
      rand(64, 3),
      0,
      new Float32Array(64),
      0,
      dg,
      0,
      8,
      8,
    );
    expect(dg.some((v) => v !== 0)).toBe(true);
  });

  it('testAllocLimit refuses a negative size', () => {
    expect(() => k.testAllocLimit(-1)).toThrow(RangeError);
  });
});
