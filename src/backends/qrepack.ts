/**
 * The C repackers of quantized matrices (native/src/qrepack.c) when the addon carries them, else null:
 * src/quant/qweight-repack.ts then runs its TypeScript twin (same bytes; MINICPM_BACKEND=ref forces it).
 * The argument order is the C wrappers' (native/src/addon-qrepack.c), which check every array.
 */
import { loadNativeKernels } from './kernels-native.js';

export interface RepackKernels {
  qrepackGptqCodes(
    qweight: Int32Array,
    out: number,
    K: number,
    bits: number,
    colByte: Int32Array,
    colShift: Uint8Array,
    rowStride: number,
    codes: Uint8Array,
  ): void;
  /** −1, or g·out + o of the first zero point above zmax. */
  qrepackGptqParams(
    scales: Uint16Array,
    qzeros: Int32Array,
    blockGroup: Int32Array,
    out: number,
    blocks: number,
    bits: number,
    zeroOffset: number,
    zmax: number,
    wscales: Uint16Array,
    wzeros: Uint8Array,
  ): number;
  qrepackQ4_0(
    data: Uint8Array,
    out: number,
    blocks: number,
    codes: Uint8Array,
    scales: Uint16Array,
    zeros: Uint8Array,
  ): void;
  qrepackQ8_0(
    data: Uint8Array,
    out: number,
    blocks: number,
    codes: Uint8Array,
    scales: Uint16Array,
    zeros: Uint8Array,
  ): void;
}

/** The native repackers, or null when the addon is absent or predates them. */
export function nativeRepackKernels(): RepackKernels | null {
  const k = loadNativeKernels() as Partial<RepackKernels> | null;
  return k &&
    typeof k.qrepackGptqCodes === 'function' &&
    typeof k.qrepackGptqParams === 'function' &&
    typeof k.qrepackQ4_0 === 'function' &&
    typeof k.qrepackQ8_0 === 'function'
    ? (k as RepackKernels)
    : null;
}
