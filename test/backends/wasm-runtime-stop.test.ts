/**
 * Stopping a wasm runtime's worker pool (what the page does before loading another model, so the old
 * runtime's memory can be collected): the workers leave the pool loop, the kernels still run on the
 * caller's thread alone, and threads can be started again.
 */
import { describe, expect, it, vi } from 'vitest';
import { refGemmKernels } from '../../src/backends/kernels-ref-gemm.js';
import { createNodeWasmKernels } from '../../src/backends/wasm/wasm-node.js';

function product(k: { sgemm: typeof refGemmKernels.sgemm }): Float32Array {
  const M = 33,
    N = 65,
    K = 40;
  const A = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 13) - 6);
  const B = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 11) - 5);
  const C = new Float32Array(M * N);
  k.sgemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N);
  return C;
}

describe('wasm runtime stop', () => {
  it('ends the workers; kernels then run on one thread; threads restart', async () => {
    const k = createNodeWasmKernels(3);
    await vi.waitFor(() => expect(k.rt.workersOnline()).toBe(2), { timeout: 10_000 });
    const want = product(refGemmKernels); // small integers: exact in any summation order
    expect(product(k)).toEqual(want);
    k.rt.stop();
    expect(k.rt.workersOnline()).toBe(0);
    expect(k.getThreads()).toBe(1);
    expect(product(k)).toEqual(want);
    k.setThreads(2);
    await vi.waitFor(() => expect(k.rt.workersOnline()).toBe(1), { timeout: 10_000 });
    expect(product(k)).toEqual(want);
    k.rt.stop();
    expect(k.rt.workersOnline()).toBe(0);
  });
});
