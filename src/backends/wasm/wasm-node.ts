/**
 * The wasm kernels in Node: the committed module (native/wasm/minicpm-kernels.wasm) read from the
 * package, compiled synchronously, and worker_threads as the pool's workers (unref'd, so they never
 * keep a process alive). Everything here is synchronous, so the backend can be chosen like the
 * native one; workers join the pool as they come online, and until then the caller does the work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { wasmApi, WasmBackendError } from './wasm-api.js';
import { WasmKernels } from './wasm-kernels.js';
import { WasmRuntime, type WorkerInit } from './wasm-runtime.js';
import { NODE_WORKER_SOURCE } from './wasm-worker-source.js';

export const WASM_MODULE_PATH = join('native', 'wasm', 'minicpm-kernels.wasm');
export const WASM_ST_MODULE_PATH = join('native', 'wasm', 'minicpm-kernels-st.wasm');

/** The package root holds native/: walk up from this file (src/backends/wasm or dist/...). */
export function findWasmModule(rel = WASM_MODULE_PATH): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

function spawnNodeWorker(init: WorkerInit): void {
  const w = new Worker(NODE_WORKER_SOURCE, { eval: true, workerData: init });
  w.unref();
  w.on('error', (e) => process.stderr.write(`minicpm: a wasm kernel worker failed: ${e.message}\n`));
}

/** Default thread count: MINICPM_THREADS, else 2 (the native backend's default). */
export function defaultThreads(): number {
  const v = Number(process.env.MINICPM_THREADS);
  return Number.isInteger(v) && v >= 1 ? Math.min(v, 64) : 2;
}

/** The single-threaded module over a fixed unshared memory of `bytes` (what non-isolated pages run). */
export function createSingleThreadWasmKernels(bytes: number): WasmKernels {
  const path = findWasmModule(WASM_ST_MODULE_PATH);
  if (!path) throw new WasmBackendError(`${WASM_ST_MODULE_PATH} was not found: npm run build-wasm`);
  const module = new (wasmApi().Module)(readFileSync(path));
  return new WasmKernels(new WasmRuntime(module, null, { shared: false, pages: Math.ceil(bytes / 65536) }));
}

/** A fresh runtime (own memory and workers) with the kernels over it. */
export function createNodeWasmKernels(threads = defaultThreads()): WasmKernels {
  const path = findWasmModule();
  if (!path)
    throw new WasmBackendError(
      `${WASM_MODULE_PATH} was not found in the minicpm package: reinstall it, or build it with npm run build-wasm (needs clang and lld)`,
    );
  const module = new (wasmApi().Module)(readFileSync(path));
  const k = new WasmKernels(new WasmRuntime(module, spawnNodeWorker));
  k.setThreads(threads);
  return k;
}
