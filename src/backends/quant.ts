/**
 * Which quantized-matmul implementation runs: the C kernels when the addon is built (and carries them),
 * else the TypeScript twin — the same choice, for the same reasons, as the GEMM family (MINICPM_BACKEND=ref
 * forces the twin; a missing addon has already printed its one warning).
 */
import { loadNativeKernels } from './kernels-native.js';
import type { QuantKernels } from './kernels-quant.js';
import { refQuantKernels } from './kernels-ref-quant.js';

export type { QuantKernels } from './kernels-quant.js';
export { QMATMUL_MAX_WEIGHTS } from './kernels-quant.js';
export { refQuantKernels } from './kernels-ref-quant.js';

/** The native quantized kernels, or null when the addon is not built or predates them. */
export function nativeQuantKernels(): QuantKernels | null {
  const k = loadNativeKernels() as Partial<QuantKernels> | null;
  return k && typeof k.qmatmul === 'function' && typeof k.qquantize === 'function'
    ? (k as QuantKernels)
    : null;
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
