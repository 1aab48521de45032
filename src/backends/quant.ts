/**
 * Which quantized-matmul implementation runs: the C kernels when the addon is built (and carries them),
 * else the TypeScript twin — the same choice, for the same reasons, as the GEMM family (MINICPM_BACKEND=ref
 * forces the twin; a missing addon has already printed its one warning).
 */
import { loadNativeKernels } from './kernels-native.js';
import type { QuantKernels } from './kernels-quant.js';
import { refQuantKernels } from './kernels-ref-quant.js';

export type { QDecodePlan, QRunArgs, QuantKernels } from './kernels-quant.js';
export { QMATMUL_MAX_WEIGHTS } from './kernels-quant.js';
export { refQuantKernels } from './kernels-ref-quant.js';

/** The native quantized kernels, or null when the addon is not built or predates them. */
export function nativeQuantKernels(): QuantKernels | null {
  const k = loadNativeKernels() as Partial<QuantKernels> | null;
  return k && typeof k.qmatmul === 'function' && typeof k.qquantize === 'function'
    ? (k as QuantKernels)
    : null;
}

const HUGE_PAGE = 2 << 20;

/**
 * A fresh zeroed buffer with `bytes` bytes from `byteOffset` on, which is a 2 MiB boundary, and that whole
 * range (rounded up to 2 MiB) advised onto transparent huge pages before its first touch; null without
 * the native addon. For quantized weights, which the decode GEMVs stream once per token: a buffer where
 * the allocator happens to map it keeps its partial first and last 2 MiB on 4 KiB pages, which stream
 * ~1.6-2.9x slower (src/quant/qweight.ts). The 2 MiB before the boundary that pad it are never touched.
 */
export function hugePageBuffer(bytes: number): { buffer: ArrayBuffer; byteOffset: number } | null {
  const k = nativeQuantKernels();
  if (!k?.hugeAlignOffset) return null;
  const buffer = new ArrayBuffer(Math.ceil(bytes / HUGE_PAGE) * HUGE_PAGE + HUGE_PAGE);
  const byteOffset = k.hugeAlignOffset(buffer);
  return byteOffset >= 0 ? { buffer, byteOffset } : null;
}

let installed: QuantKernels | null = null;

/**
 * Quantized kernels that go with an installed backend (the wasm backend carries its own), or null for the
 * default choice above. Quantized linears take the kernels current when they are built.
 */
export function setQuantKernels(k: QuantKernels | null): void {
  installed = k;
}

export function quantKernels(): QuantKernels {
  return installed ?? nativeQuantKernels() ?? refQuantKernels;
}
