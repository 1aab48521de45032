/**
 * The wasm module follows the native kernels' allocation-failure policy (native/src/internal.h): a kernel
 * that cannot get memory stops and the call throws KernelMemoryError naming the kernel and the bytes,
 * and the module keeps working. Forced for real, without a test hook: the single-threaded module over
 * its smallest fixed memory (4 MiB, never grown) cannot hold what these calls need beside their operands.
 */
import { describe, expect, it } from 'vitest';
import { KernelMemoryError } from '../../src/backends/kernel-errors.js';
import { createSingleThreadWasmKernels } from '../../src/backends/wasm/wasm-node.js';

const ones = (n: number): Uint16Array => new Uint16Array(n).fill(0x3f80); // bf16 1.0

describe('wasm kernels out of memory', () => {
  const k = createSingleThreadWasmKernels(4 << 20);

  /** Attention over a bf16 cache of S positions (Hkv = 1): q [T, Hq, D], out as q. */
  const attend = (T: number, S: number, Hq: number, D: number): Float32Array => {
    const out = new Float32Array(T * Hq * D);
    const q = new Float32Array(T * Hq * D).fill(0.1);
    k.attentionFwdBf16Kv(
      q,
      0,
      ones(S * D),
      0,
      ones(S * D),
      0,
      out,
      0,
      new Float32Array(Hq * T),
      0,
      1,
      T,
      S,
      Hq,
      1,
      D,
      S - T,
      1,
      0.125,
    );
    return out;
  };

  it('prefill over a bf16 cache: the widened copy (checked allocator) does not fit', () => {
    let e: unknown;
    try {
      attend(2, 8192, 1, 64);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(KernelMemoryError);
    expect((e as KernelMemoryError).kernel).toBe('attentionFwdBf16Kv');
    expect((e as KernelMemoryError).bytes).toBe(8192 * 64 * 4);
    expect((e as Error).message).toMatch(/ran out of memory: could not allocate 2097152 bytes.*retry/);
  });

  it('decode: score rows in scratch that cannot grow', () => {
    // 128 heads × 8,192 keys of scores: 4 MiB of scratch on a 4 MiB memory
    expect(() => attend(1, 8192, 128, 2)).toThrow(KernelMemoryError);
  });

  it('the module keeps working after a failure: attention over equal values returns them', () => {
    expect(() => attend(2, 8192, 1, 64)).toThrow(KernelMemoryError);
    const out = attend(2, 64, 2, 8);
    expect(Array.from(out)).toEqual(new Array(out.length).fill(1));
  });
});
