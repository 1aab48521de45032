/**
 * One instance of the kernel module over a shared memory, plus the worker threads that join its pool.
 * Platform-neutral: the caller supplies the compiled module and a way to start a worker (worker_threads
 * in Node, Web Workers in browsers; wasm-node.ts and wasm-browser.ts). Workers are only ever added:
 * lowering the thread count lowers how many parts the kernels split work into and leaves the extra
 * workers asleep in memory.atomic.wait (no CPU), which avoids tearing a worker down mid-job.
 */
import {
  wasmApi,
  WasmBackendError,
  type WasmGlobal,
  type WasmMemory,
  type WasmModuleObject,
} from './wasm-api.js';

/** What a worker needs to join the pool (see wasm-worker-source.ts). */
export interface WorkerInit {
  module: WasmModuleObject;
  memory: WasmMemory;
  tid: number;
  stackLo: number;
  stackHi: number;
}

/** Starts one worker that runs `init` (it must not wait for the caller's event loop). */
export type SpawnWorker = (init: WorkerInit) => void;

type Fn = (...args: number[]) => number;

/** The module's exports (scripts/build-wasm.mjs EXPORTS): ints, floats and pointers, all as numbers. */
export interface KernelExports {
  [name: string]: Fn | WasmGlobal;
}

const WORKER_STACK = 512 * 1024;
/** Pages the memory starts with: the module's data and 1 MiB stack need 17; the heap grows from here. */
const INITIAL_PAGES = 64;
const MAX_PAGES = 65536;
const MAX_THREADS = 64;

export interface RuntimeOptions {
  /**
   * false: the single-threaded module over an unshared memory of `pages` 64 KiB pages that never grows
   * (growing would detach the ArrayBuffer under every tensor), for pages without cross-origin isolation.
   */
  shared?: boolean;
  pages?: number;
}

export class WasmRuntime {
  readonly memory: WasmMemory;
  private readonly x: KernelExports;
  private workers = 0;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private lastBuffer: ArrayBufferLike | null = null;

  readonly shared: boolean;

  constructor(
    private readonly module: WasmModuleObject,
    private readonly spawn: SpawnWorker | null,
    opts: RuntimeOptions = {},
  ) {
    const api = wasmApi();
    this.shared = opts.shared ?? true;
    const pages = Math.min(MAX_PAGES, Math.max(INITIAL_PAGES, opts.pages ?? INITIAL_PAGES));
    this.memory = this.shared
      ? new api.Memory({ initial: pages, maximum: MAX_PAGES, shared: true })
      : new api.Memory({ initial: pages, maximum: pages, shared: false });
    this.x = new api.Instance(module, { env: { memory: this.memory } }).exports as KernelExports;
    this.fn('mc_init')();
  }

  /** An exported function by name. */
  fn(name: string): Fn {
    const f = this.x[name];
    if (typeof f !== 'function')
      throw new WasmBackendError(`the kernel module has no export ${name}: rebuild it (npm run build-wasm)`);
    return f;
  }

  /** Threads the kernels split work over (the caller counts as one); starts workers as needed. */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)
      throw new WasmBackendError(`threads must be an integer in [1, ${MAX_THREADS}], got ${n}`);
    if (!this.spawn || !this.shared) n = 1;
    while (this.workers < n - 1) {
      const tid = ++this.workers;
      const lo = this.alloc(WORKER_STACK);
      this.spawn!({ module: this.module, memory: this.memory, tid, stackLo: lo, stackHi: lo + WORKER_STACK });
    }
    this.fn('mc_set_threads')(n);
  }

  getThreads(): number {
    return this.fn('mc_get_threads')();
  }

  /**
   * Ends the worker threads (each returns from the pool loop and exits), so that dropping this runtime
   * frees its memory: a page that loads another model starts a new runtime. Workers still starting are
   * waited for (up to `waitMs`) first, or they would join the pool after it stopped. The runtime runs on
   * the calling thread alone afterwards.
   */
  stop(waitMs = 5000): void {
    if (!this.workers) return;
    const until = Date.now() + waitMs;
    while (this.workersOnline() < this.workers && Date.now() < until) {
      // spin: workers come online on their own threads
    }
    this.fn('mc_set_threads')(1);
    this.fn('mc_wasm_pool_stop')();
    this.workers = 0;
  }

  /** Workers that have entered the pool loop (they come online asynchronously after setThreads). */
  workersOnline(): number {
    return this.fn('mc_wasm_workers_alive')();
  }

  /** Zeroed, 64-byte aligned heap memory; its address. */
  alloc(bytes: number): number {
    const p = this.fn('mc_wasm_zalloc')(bytes) >>> 0;
    if (!p)
      throw new WasmBackendError(
        this.shared
          ? `the wasm heap cannot grow by ${bytes} bytes (wasm32 addresses at most 4 GiB, ` +
              `${this.heapUsed()} bytes are in use): use a smaller or quantized model, or the native backend`
          : `the single-threaded wasm heap is full (${this.heapUsed()} bytes in use, it cannot grow): ` +
              'serve the page cross-origin isolated (COOP/COEP headers) for the growable threaded module',
      );
    return p;
  }

  free(p: number): void {
    this.fn('free')(p);
  }

  heapUsed(): number {
    return this.fn('mc_wasm_heap_used')() >>> 0;
  }

  /** The current buffer over all of memory (a new object after each growth; old ones stay valid). */
  buffer(): ArrayBufferLike {
    const b = this.memory.buffer;
    if (b !== this.lastBuffer) {
      this.buffers.add(b);
      this.lastBuffer = b;
    }
    return b;
  }

  /** Whether a typed array's memory is this module's memory (then kernels use it in place). */
  owns(a: ArrayBufferView): boolean {
    const b = a.buffer;
    return b === this.lastBuffer || this.buffers.has(b); // most arrays are over the latest buffer
  }
}
