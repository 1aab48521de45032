/**
 * bf16 ⇄ f32 over contiguous runs, bit for bit what f32ToBf16 / bf16ToF32 (tensor/dtype.ts) give one
 * element at a time, in a loop the JIT keeps monomorphic: the TypeScript twin of the addon's C loops
 * (native/src/convert-bf16.c, which the native backend's cast uses) and the path everywhere else.
 * Writing a 512-token prefill's keys and values into a bf16 KV cache through the per-element path
 * took ~7 ms a tensor; this loop ~3 ms, the C one ~0.7 ms.
 */

/** dst[dOff + i] = bf16 bits of src[sOff + i], i < n: round to nearest even, NaN stays a quiet NaN. */
export function f32ToBf16Run(
  src: Float32Array,
  sOff: number,
  dst: Uint16Array,
  dOff: number,
  n: number,
): void {
  const u = new Uint32Array(src.buffer, src.byteOffset + 4 * sOff, n);
  for (let i = 0; i < n; i++) {
    const x = u[i];
    dst[dOff + i] =
      (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/** dst[dOff + i] = the f32 whose high half is src[sOff + i], i < n. */
export function bf16ToF32Run(
  src: Uint16Array,
  sOff: number,
  dst: Float32Array,
  dOff: number,
  n: number,
): void {
  const u = new Uint32Array(dst.buffer, dst.byteOffset + 4 * dOff, n);
  for (let i = 0; i < n; i++) u[i] = src[sOff + i] << 16;
}
