/**
 * Per-layer key/value cache [B, capacity, Hkv, D]. Appending writes in place; when capacity runs out
 * it doubles (one copy per doubling, never a copy per step).
 *
 * The cache is f32 by default (decoding equals full recomputation exactly). A bf16 cache, as a bf16
 * Hugging Face model keeps, halves its memory and the bytes each decode step's attention streams;
 * keys and values are rounded to bf16 as they are appended. It is for inference (noGrad) only.
 */
import { cast, getBackend, slice, Tensor } from '../tensor/index.js';

export type KVCacheDtype = 'f32' | 'bf16';

export class KVCache {
  private keys: Tensor[] = [];
  private values: Tensor[] = [];
  private capacity = 0;
  /** Positions already cached (equal across layers once a forward pass completes). */
  length = 0;

  constructor(
    readonly numLayers: number,
    readonly batch: number,
    readonly numKvHeads: number,
    readonly headDim: number,
    initialCapacity = 256,
    readonly dtype: KVCacheDtype = 'f32',
  ) {
    if (dtype !== 'f32' && dtype !== 'bf16')
      throw new TypeError(`KV cache dtype must be 'f32' or 'bf16', got ${String(dtype)}`);
    this.grow(initialCapacity);
  }

  private grow(capacity: number): void {
    const b = getBackend();
    for (let l = 0; l < this.numLayers; l++) {
      const k = Tensor.empty([this.batch, capacity, this.numKvHeads, this.headDim], this.dtype).keep();
      const v = Tensor.empty([this.batch, capacity, this.numKvHeads, this.headDim], this.dtype).keep();
      if (this.length > 0) {
        b.assign(slice(k, 1, 0, this.length), slice(this.keys[l], 1, 0, this.length));
        b.assign(slice(v, 1, 0, this.length), slice(this.values[l], 1, 0, this.length));
      }
      this.keys[l]?.dispose();
      this.values[l]?.dispose();
      this.keys[l] = k;
      this.values[l] = v;
    }
    this.capacity = capacity;
  }

  /** Writes k/v [B, T, Hkv, D] of `layer` at the current length; returns views of all S = length+T keys/values. */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const T = k.shape[1];
    const end = this.length + T;
    if (end > this.capacity) this.grow(Math.max(end, this.capacity * 2));
    const b = getBackend();
    b.assign(slice(this.keys[layer], 1, this.length, end), cast(k, this.dtype));
    b.assign(slice(this.values[layer], 1, this.length, end), cast(v, this.dtype));
    return { k: slice(this.keys[layer], 1, 0, end), v: slice(this.values[layer], 1, 0, end) };
  }

  /** Views of the first `length` cached keys and values of `layer`, [B, length, Hkv, D] (e.g. to copy a shared prefix). */
  read(layer: number, length = this.length): { k: Tensor; v: Tensor } {
    if (length > this.length) throw new RangeError(`only ${this.length} positions are cached, not ${length}`);
    return { k: slice(this.keys[layer], 1, 0, length), v: slice(this.values[layer], 1, 0, length) };
  }

  /** Marks `T` new positions as cached (called once per forward pass, after every layer appended). */
  advance(T: number): void {
    this.length += T;
  }

  /** Forgets everything past `length` (e.g. to re-run a prompt suffix). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys = [];
    this.values = [];
  }
}
