/**
 * The wasm kernels in a browser (or any Web Worker host): the module compiled from a URL, Web Workers
 * from a Blob URL as the pool's workers. Shared memory needs a cross-origin isolated page (COOP/COEP
 * headers); without it this throws, and the caller runs on one thread without the module.
 * No DOM types here (the project compiles without them): the few globals are reached through
 * globalThis.
 */
import { wasmApi, WasmBackendError } from './wasm-api.js';
import { WasmKernels } from './wasm-kernels.js';
import { WasmRuntime, type WorkerInit } from './wasm-runtime.js';
import { BROWSER_WORKER_SOURCE } from './wasm-worker-source.js';

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  fetch(url: string): Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
  Blob: new (parts: string[], opts: { type: string }) => object;
  URL: { createObjectURL(b: object): string };
  Worker: new (url: string, opts?: { name?: string }) => { postMessage(m: unknown): void };
}
const g = globalThis as unknown as BrowserGlobals;

/** Whether this page may use shared memory (and so the threaded wasm module). */
export function canShareMemory(): boolean {
  return g.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
}

let workerUrl: string | undefined;
function spawnWebWorker(init: WorkerInit): void {
  workerUrl ??= g.URL.createObjectURL(new g.Blob([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
  new g.Worker(workerUrl, { name: `minicpm-kernels-${init.tid}` }).postMessage(init);
}

async function compileFrom(url: string) {
  const r = await g.fetch(url);
  if (!r.ok) throw new WasmBackendError(`fetching ${url} failed with HTTP ${r.status}`);
  return wasmApi().compile(new Uint8Array(await r.arrayBuffer()));
}

/** Fetches and compiles the threaded module, then starts `threads` threads (the caller counts as one). */
export async function createBrowserWasmKernels(moduleUrl: string, threads: number): Promise<WasmKernels> {
  if (!canShareMemory())
    throw new WasmBackendError(
      'this page is not cross-origin isolated, so WebAssembly cannot share memory: serve it with the headers ' +
        'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (minicpm web does)',
    );
  const k = new WasmKernels(new WasmRuntime(await compileFrom(moduleUrl), spawnWebWorker));
  k.setThreads(threads);
  return k;
}

/**
 * The single-threaded module (minicpm-kernels-st.wasm) over an unshared memory of `bytes`, fixed in size:
 * what a page without cross-origin isolation can run. `bytes` must hold the weights and the work memory.
 */
export async function createSingleThreadBrowserKernels(
  moduleUrl: string,
  bytes: number,
): Promise<WasmKernels> {
  const module = await compileFrom(moduleUrl);
  return new WasmKernels(new WasmRuntime(module, null, { shared: false, pages: Math.ceil(bytes / 65536) }));
}
