/**
 * Buffers and the memory rule.
 *
 * THE RULE: every tensor created inside `scope(fn)` is disposed when `fn` returns, except the tensors
 * it returns (they move to the enclosing scope) and those passed to `keep()`. Disposing drops a
 * reference on the tensor's Storage; a Storage with no references hands its buffer back to the pool,
 * keyed by dtype and exact length, so a training step that repeats the same shapes allocates nothing
 * after its first iteration. Parameters, gradients and optimizer state are created untracked and live
 * until disposed explicitly. Outside any scope, tensors are ordinary garbage-collected objects.
 */
import { DTYPES, type DType, type StorageArray } from './dtype.js';

/** A buffer for `bytes` bytes starting at `byteOffset` of `buffer`. */
export type Allocator = (bytes: number) => { buffer: ArrayBuffer; byteOffset: number };

let allocator: Allocator = (bytes) => ({ buffer: new ArrayBuffer(bytes), byteOffset: 0 });

/**
 * Hands a block of the allocator back when the pool lets go of its array (the wasm backend's heap, which
 * the garbage collector cannot reclaim); null where dropping the array is enough (ArrayBuffers).
 */
export type Deallocator = ((array: StorageArray) => void) | null;
let deallocator: Deallocator = null;

/**
 * The native backend installs a 64-byte aligned allocator here, the wasm backend one over its heap with
 * the matching `free`; returns the allocator it replaces.
 */
export function setAllocator(fn: Allocator, free: Deallocator = null): Allocator {
  const previous = allocator;
  allocator = fn;
  deallocator = free;
  return previous;
}

/**
 * Whether buffers come from a heap the garbage collector cannot reclaim (the wasm backend's), where
 * memory handed out and not used is lost for good; ArrayBuffer allocators leave untouched pages unmapped.
 */
export function allocatesFromHeap(): boolean {
  return deallocator !== null;
}

function makeArray(dtype: DType, length: number): StorageArray {
  const info = DTYPES[dtype];
  const { buffer: buf, byteOffset: at } = allocator(Math.max(length, 1) * info.bytes);
  switch (dtype) {
    case 'f32':
      return new Float32Array(buf, at, length);
    case 'f64':
      return new Float64Array(buf, at, length);
    case 'bf16':
    case 'f16':
      return new Uint16Array(buf, at, length);
    case 'i32':
      return new Int32Array(buf, at, length);
    case 'u8':
      return new Uint8Array(buf, at, length);
    case 'i8':
      return new Int8Array(buf, at, length);
  }
}

interface PoolStats {
  /** Bytes currently handed out to live storages. */
  liveBytes: number;
  /** Bytes parked in the pool, ready for reuse. */
  pooledBytes: number;
  allocations: number;
  reuses: number;
}

class BufferPool {
  private free = new Map<string, StorageArray[]>();
  /** Every parked buffer, oldest first (a Map keeps insertion order), for least-recently-parked eviction. */
  private parked = new Map<StorageArray, string>();
  readonly stats: PoolStats = { liveBytes: 0, pooledBytes: 0, allocations: 0, reuses: 0 };
  /**
   * Pooled bytes above this evict the buffers parked longest ago. A training step re-parks the same
   * shapes every step, so its buffers stay young; shapes that never recur (evaluation prompts, growing
   * caches) age out instead of filling memory.
   */
  maxPooledBytes = 3 * 2 ** 30;

  acquire(dtype: DType, length: number): StorageArray {
    const bytes = length * DTYPES[dtype].bytes;
    const list = this.free.get(`${dtype}:${length}`);
    const reused = list?.pop();
    this.stats.liveBytes += bytes;
    if (reused) {
      this.parked.delete(reused);
      this.stats.pooledBytes -= bytes;
      this.stats.reuses++;
      return reused;
    }
    this.stats.allocations++;
    return makeArray(dtype, length);
  }

  release(dtype: DType, array: StorageArray): void {
    const bytes = array.length * DTYPES[dtype].bytes;
    this.stats.liveBytes -= bytes;
    if (bytes > this.maxPooledBytes) {
      deallocator?.(array);
      return;
    }
    const key = `${dtype}:${array.length}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(array);
    this.parked.set(array, key);
    this.stats.pooledBytes += bytes;
    for (const [old, oldKey] of this.parked) {
      if (this.stats.pooledBytes <= this.maxPooledBytes) break;
      const l = this.free.get(oldKey)!;
      l.splice(l.indexOf(old), 1);
      if (!l.length) this.free.delete(oldKey);
      this.parked.delete(old);
      this.stats.pooledBytes -= old.byteLength;
      deallocator?.(old);
    }
  }

  /** Drop every parked buffer (e.g. between unrelated phases of a program). */
  clear(): void {
    if (deallocator) for (const a of this.parked.keys()) deallocator(a);
    this.free.clear();
    this.parked.clear();
    this.stats.pooledBytes = 0;
  }
}

export const pool = new BufferPool();

/** A reference-counted buffer shared by a tensor and its views. */
export class Storage {
  private refs = 0;
  private released = false;
  constructor(
    readonly dtype: DType,
    readonly data: StorageArray,
    /** Pooled storages return their buffer on release; wrapped user arrays never do. */
    private readonly pooled: boolean,
  ) {}

  static allocate(dtype: DType, length: number): Storage {
    return new Storage(dtype, pool.acquire(dtype, length), true);
  }

  static wrap(dtype: DType, data: StorageArray): Storage {
    return new Storage(dtype, data, false);
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs > 0 || this.released) return;
    this.released = true;
    if (this.pooled) pool.release(this.dtype, this.data);
  }
}
