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
 * Installs wasmAllocator for all new tensors, with the heap's free as the pool's deallocator. The JS
 * buffer pool keeps nothing: a released tensor's block goes straight back to the heap, whose free lists
 * (heap-wasm.c) reuse blocks by size class as the pool would, so the heap's use returns to its level
 * before a generate once the step's scope ends.
 *
 * Not freed: tensors that are garbage collected without being released (created outside any scope and
 * never disposed). A finalizer cannot free them safely, because views of a storage's array may outlive
 * it (quantized weights keep subarrays of a kept tensor's storage); the engine runs every step in a
 * scope and disposes its parameters explicitly.
 */
export function installWasmAllocator(k: WasmKernels): Allocator {
  pool.clear();
  pool.maxPooledBytes = 0;
  return setAllocator(wasmAllocator(k), (a) => {
    if (k.rt.owns(a)) k.rt.free(a.byteOffset);
  });
}
