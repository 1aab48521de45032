/**
 * The wasm backend: the CPU backend's op set with the GEMM family, attention and the row/elementwise
 * kernels routed to the wasm module (the same arrangement as cpu-native over the N-API addon).
 * Platform-neutral: Node builds its kernels in wasm-node.ts, the browser runtime in wasm-browser.ts.
 */
import { pool, setAllocator, type Allocator } from '../../tensor/index.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import type { WasmKernels } from './wasm-kernels.js';

export function makeWasmBackend(k: WasmKernels): CpuBackend {
  return new CpuBackend(`wasm (${k.features().isa}, ${k.getThreads()} threads)`, k, true, k);
}

/**
 * Tensor storage inside the module's memory, so kernels read and write tensors in place (no copies).
 * The memory is a SharedArrayBuffer; wasm memory never shrinks, and freed blocks are reused by size
 * (heap-wasm.c), which the engine's buffer pool keeps steady.
 */
export function wasmAllocator(k: WasmKernels): Allocator {
  return (bytes) => {
    const byteOffset = k.rt.alloc(bytes);
    return { buffer: k.rt.buffer() as unknown as ArrayBuffer, byteOffset };
  };
}

/**
 * Installs wasmAllocator for all new tensors. The buffer pool's eviction is turned off: an evicted
 * buffer would only be dropped for the garbage collector, which cannot hand wasm heap blocks back, so
 * keeping it parked for reuse costs nothing more. (Tensors collected outside a scope() are likewise not
 * returned to the heap: the engine runs every step in a scope.)
 */
export function installWasmAllocator(k: WasmKernels): Allocator {
  pool.maxPooledBytes = Infinity;
  return setAllocator(wasmAllocator(k));
}
