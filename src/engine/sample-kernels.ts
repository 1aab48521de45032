/**
 * The sampler's linear passes in C (native/src/sample-stages.c): temperature, heap top-k, the best-64
 * positions of top-p, min-p's compaction, top-p's renormalisation and the draw. Each was a JavaScript
 * loop costing a few tenths of a millisecond per token on MiniCPM's 122,753 logits. Their twins — the
 * executable specification, and what runs where the addon is absent (a browser) — are the TypeScript
 * loops in candidates.ts and sampler-stages.ts; the C keeps their arithmetic and comparison order, so a
 * seed draws the same ids either way (test/engine/sample-kernels.test.ts checks it bit for bit).
 */
import { loadNativeKernels } from '../backends/kernels-native.js';

export interface SampleKernels {
  sampleScale(l: Float32Array, n: number, inv: number): void;
  sampleHeapTopK(
    ids: Int32Array,
    l: Float32Array,
    n: number,
    k: number,
    hIds: Int32Array,
    hL: Float32Array,
  ): void;
  sampleBestPositions(ids: Int32Array, l: Float32Array, n: number, k: number, out: Int32Array): void;
  sampleKeepAtLeast(
    ids: Int32Array,
    l: Float32Array,
    probs: Float32Array,
    n: number,
    floor: number,
    renorm: boolean,
  ): number;
  sampleDraw(ids: Int32Array, probs: Float32Array, n: number, u: number): number;
  sampleRenormalize4(probs: Float32Array, n: number): void;
}

/** Undefined until first use, null without the addon (or when tests turn it off). */
let kernels: SampleKernels | null | undefined;

/** Tests and benchmarks: run the TypeScript twins (false) or the C passes where built (true, the default). */
export function useNativeSampler(on: boolean): void {
  kernels = on ? undefined : null;
}

/** The C passes, or null where the addon (or this build of it) lacks them. */
export function sampleKernels(): SampleKernels | null {
  if (kernels === undefined) {
    const k = loadNativeKernels() as Partial<SampleKernels> | null;
    kernels = k?.sampleScale && k.sampleDraw && k.sampleRenormalize4 ? (k as SampleKernels) : null;
  }
  return kernels;
}
