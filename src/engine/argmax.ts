/**
 * Greedy decoding's pick over one row of logits. The C kernel (native/src/decode-argmax.c) reads
 * MiniCPM's 122,753 logits in tens of microseconds where a JavaScript loop took a few hundred, paid
 * once per stream per token; the twin below is its executable specification and the fallback where
 * the addon is absent (a browser, MINICPM_BACKEND=ref).
 *
 * Semantics (both): the first index holding the largest non-NaN value — the sampler's "higher logit,
 * ties to the lower id" order; 0 when every entry is NaN; −1 for an empty row.
 */
import { loadNativeKernels } from '../backends/kernels-native.js';
import type { Tensor } from '../tensor/index.js';

type ArgmaxKernel = (x: Float32Array) => number;

/** The native kernel: undefined until first use, null without the addon (or when tests turn it off). */
let kernel: ArgmaxKernel | null | undefined;

/** Tests and benchmarks: run the TypeScript twin (false) or the native kernel where built (true, the default). */
export function useNativeArgmax(on: boolean): void {
  kernel = on ? undefined : null;
}

/** Whether `argmax` runs the native kernel. */
export function nativeArgmaxActive(): boolean {
  if (kernel === undefined)
    kernel = (loadNativeKernels() as { argmaxF32?: ArgmaxKernel } | null)?.argmaxF32 ?? null;
  return kernel !== null;
}

/** The twin of mc_argmax_f32: one pass, the same answer as "max skipping NaN, then its first index". */
export function argmaxTwin(x: Float32Array): number {
  const n = x.length;
  if (n === 0) return -1;
  let best = -1;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    // the first −∞ counts when nothing larger comes: the max is then −∞, first found at i
    if (v > bv || (best < 0 && v === bv)) {
      bv = v;
      best = i;
    }
  }
  return best < 0 ? 0 : best;
}

/** The first index of the largest non-NaN entry of `x` (see the module comment). */
export function argmax(x: Float32Array): number {
  return nativeArgmaxActive() ? kernel!(x) : argmaxTwin(x);
}

/**
 * Greedy id from logits [..., V]: the argmax of the last row, read in place (no copy of the row).
 * For the benches' and engines' one-token steps: `argmaxLast(model.forward(ids, cache))`.
 */
export function argmaxLast(logits: Tensor): number {
  if (logits.dtype !== 'f32') throw new TypeError(`argmaxLast needs f32 logits, got ${logits.dtype}`);
  const V = logits.shape[logits.shape.length - 1];
  const c = logits.isContiguous() ? logits : logits.contiguousCopy();
  const start = c.offset + c.size - V;
  const id = argmax((c.data as Float32Array).subarray(start, start + V));
  if (c !== logits) c.dispose();
  return id;
}
