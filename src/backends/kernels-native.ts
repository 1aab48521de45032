/**
 * The native kernel library (native/, built by node-gyp into build/Release/minicpm_native.node)
 * behind the GemmKernels ABI. The addon checks argument types and operand windows itself: a window
 * that does not fit its typed array throws a RangeError before any memory is touched.
 *
 * Precision contract, against the f32 reference twin (kernels-ref-gemm.ts):
 *  - sgemm / sgemmBatched: f32 products and f32 accumulation in blocked order (K blocks of a few
 *    hundred), so results differ from a sequential sum by rounding only (~1e-6 relative).
 *  - gemmBf16 with M > 4 on CPUs with AVX512_BF16 uses vdpbf16ps: A is rounded to bf16 (round to
 *    nearest even, relative error 2^-9 per element) before the exact bf16·bf16 products, which are
 *    accumulated in f32. Expect |C − ref| up to ~1e-2 of Σ|a·w| (typically a few 1e-3).
 *  - gemmBf16 with M <= 4 (decode GEMV and small decode batches, bandwidth bound anyway) and on CPUs
 *    without AVX512_BF16 widens W to f32 exactly and keeps A in f32: sgemm precision.
 *  - M = 1, and on AVX-512 M = 2..4 with W in [N,K] layout, never packs: W is streamed once.
 *  - gemvMany runs each weight through the same M = 1 row kernel as sgemm / gemmBf16 (bit-identical
 *    results), as one job over the pool.
 *  - gemvRows (row-exact multi-row GEMV, native/src/gemv-rows*.c) gives every row bitwise its M = 1
 *    sgemm / gemmBf16 result, reading W once for all rows (continuous-batching decode).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelMemoryError } from './kernel-errors.js';
import type { GemmKernels } from './kernels.js';

export type NativeIsa = 'avx512' | 'avx2' | 'scalar';

export interface NativeFeatures {
  isa: NativeIsa;
  /** gemmBf16 uses vdpbf16ps */
  bf16: boolean;
  /** the CPU has avx512_vnni */
  vnni: boolean;
}

export type NativeKernels = GemmKernels & {
  features(): NativeFeatures;
  /** Resizes the persistent pool (the calling thread counts as one). Default 2, or MINICPM_THREADS. */
  setThreads(n: number): void;
  getThreads(): number;
  /** A zero-filled ArrayBuffer over 64-byte aligned native memory, freed when collected. */
  alignedBuffer(bytes: number): ArrayBuffer;
  /** Bytes from the start of a (V8-allocated) ArrayBuffer to its first 64-byte boundary. */
  alignOffset(buffer: ArrayBuffer): number;
  /** Lowers (or restores) the code path, for tests and benchmarks; false when the CPU lacks it. */
  setIsa(isa: NativeIsa): boolean;
  /** The classes the addon throws: KernelMemoryError when a kernel runs out of memory. */
  setErrorClasses(classes: { memory: typeof KernelMemoryError }): void;
  /** Test hook: every kernel allocation of at least `bytes` fails from now on (0 turns it off). */
  testAllocLimit(bytes: number): void;
};

// a literal, not join(): the browser page bundles this module (via quant.ts) with node:path stubbed
const ADDON = 'build/Release/minicpm_native.node';

/** The package root holds build/: walk up from this file (src/backends or dist/src/backends). */
function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, ADDON);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

let cached: NativeKernels | null | undefined;
let warned = false;

function warnOnce(detail: string): void {
  if (warned) return;
  warned = true;
  process.stderr.write(
    `minicpm: the native kernels are not available (${detail}).\n` +
      '  Falling back to the TypeScript reference backend, which is about 100x slower.\n' +
      '  To fix: run `npm run build-native` in the minicpm package (needs python3, make and g++),\n' +
      '  or set MINICPM_BACKEND=ref to choose the reference backend and silence this warning.\n',
  );
}

/**
 * Loads the addon once. Returns null (with one warning per process) when it is not built or does
 * not load, and null silently when MINICPM_BACKEND=ref asks for the reference backend or in a browser.
 */
export function loadNativeKernels(): NativeKernels | null {
  // asked on every kernel call: reading process.env is a getenv() each time (~2 µs), so the answer,
  // MINICPM_BACKEND=ref included, is settled by the first call
  if (cached !== undefined) return cached;
  if (typeof process === 'undefined') return (cached = null); // a browser (the page's engine worker): no addon
  if (process.env.MINICPM_BACKEND === 'ref') return (cached = null);
  const path = findAddon();
  if (!path) {
    warnOnce(`${ADDON} was not found`);
    return (cached = null);
  }
  try {
    const require = createRequire(import.meta.url);
    cached = require(path) as NativeKernels;
    // an addon built before the failure policy has no setErrorClasses: its errors stay plain
    if (typeof cached.setErrorClasses === 'function') cached.setErrorClasses({ memory: KernelMemoryError });
  } catch (e) {
    warnOnce(`${path} failed to load: ${(e as Error).message}`);
    cached = null;
  }
  return cached;
}
