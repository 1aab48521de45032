/**
 * Per-layer key/value cache [B, capacity, Hkv, D]. Appending writes in place; when capacity runs out
 * it doubles (one copy per doubling, never a copy per step).
 *
 * The cache is f32 by default (decoding equals full recomputation exactly). A bf16 cache, as a bf16
 * Hugging Face model keeps, halves its memory and the bytes each decode step's attention streams;
 * keys and values are rounded to bf16 as they are appended. An int8 cache (`--kv-cache int8`) keeps
 * int8 codes with one f32 scale per position and kv head (scales [B, capacity, Hkv]; why that
 * granularity: native/src/attention-kv8.h): 1 + 4/D bytes per element, quantized as rows are appended
 * and read by its own attention kernel. bf16 and int8 are for inference (noGrad) only.
 */
import {
  attention,
  attentionKv8,
  cast,
  getBackend,
  quantizeKv8Into,
  slice,
  Tensor,
  type AttentionArgs,
} from '../tensor/index.js';

export type KVCacheDtype = 'f32' | 'bf16' | 'int8';
export const KV_CACHE_DTYPES: readonly KVCacheDtype[] = ['f32', 'bf16', 'int8'];

interface LayerStore {
  k: Tensor;
  v: Tensor;
  /** int8 only: per (batch, position, kv head) scales of k and v. */
  ks?: Tensor;
  vs?: Tensor;
}

/** f32 copy [B, S, H, D] of int8 codes [B, S, H, D] with scales [B, S, H]: x̂ = f32(scale · code). */
function dequantize(codes: Tensor, scales: Tensor): Tensor {
  // a batch-1 cache's position slices are contiguous: read them in place (a copied prefix can be long)
  const flat = (t: Tensor): ArrayLike<number> =>
    t.isContiguous() ? t.data.subarray(t.offset, t.offset + t.size) : t.toArray();
  const c = flat(codes);
  const d = flat(scales);
  const D = codes.shape[3];
  const out = new Float32Array(codes.size);
  for (let r = 0; r < d.length; r++) for (let i = 0; i < D; i++) out[r * D + i] = d[r] * c[r * D + i];
  return Tensor.from(out, codes.shape);
}

export class KVCache {
  private layers: LayerStore[] = [];
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
    if (!KV_CACHE_DTYPES.includes(dtype))
      throw new TypeError(
        `KV cache dtype must be one of ${KV_CACHE_DTYPES.join(', ')}, got ${String(dtype)}`,
      );
    this.grow(initialCapacity);
  }

  /** Bytes one cached position takes over all layers (keys, values and, for int8, their scales). */
  get bytesPerToken(): number {
    return this.batch * KVCache.bytesPerPosition(this.dtype, this.numLayers, this.numKvHeads, this.headDim);
  }

  /** Bytes a `dtype` cache spends on one position of one sequence over `layers` layers. */
  static bytesPerPosition(dtype: KVCacheDtype, layers: number, kvHeads: number, headDim: number): number {
    const elems = kvHeads * headDim;
    const per = dtype === 'f32' ? 4 * elems : dtype === 'bf16' ? 2 * elems : elems + 4 * kvHeads;
    return 2 * layers * per;
  }

  /**
   * One layer's tensors for `capacity` positions, every page written once here: a fresh buffer's pages
   * are mapped on first write, and a decode step appends a row of each (4.6 KB at the 2B width's bf16),
   * so nearly every step took a page fault per cache and layer, ~15-30 µs of a ~165 µs attention step
   * (measured on the 2B-wide W4 model). Committing the memory up front, as llama.cpp's cache does, moves
   * that to the allocation.
   */
  private store(capacity: number): LayerStore {
    const shape = [this.batch, capacity, this.numKvHeads, this.headDim];
    const sshape = shape.slice(0, 3);
    const s: LayerStore =
      this.dtype !== 'int8'
        ? { k: Tensor.empty(shape, this.dtype).keep(), v: Tensor.empty(shape, this.dtype).keep() }
        : {
            k: Tensor.empty(shape, 'i8').keep(),
            v: Tensor.empty(shape, 'i8').keep(),
            ks: Tensor.empty(sshape, 'f32').keep(),
            vs: Tensor.empty(sshape, 'f32').keep(),
          };
    for (const t of KVCache.tensors(s)) t.data.fill(0, t.offset, t.offset + t.size);
    return s;
  }

  private static tensors(s: LayerStore): Tensor[] {
    return [s.k, s.v, ...(s.ks && s.vs ? [s.ks, s.vs] : [])];
  }

  private grow(capacity: number): void {
    const b = getBackend();
    for (let l = 0; l < this.numLayers; l++) {
      const next = this.store(capacity);
      const old = this.layers[l];
      if (old && this.length > 0) {
        const from = KVCache.tensors(old);
        KVCache.tensors(next).forEach((t, i) =>
          b.assign(slice(t, 1, 0, this.length), slice(from[i], 1, 0, this.length)),
        );
      }
      if (old) for (const t of KVCache.tensors(old)) t.dispose();
      this.layers[l] = next;
    }
    this.capacity = capacity;
  }

  /** Makes room for T more positions; returns the end position. */
  private reserve(T: number): number {
    const end = this.length + T;
    if (end > this.capacity) this.grow(Math.max(end, this.capacity * 2));
    return end;
  }

  /**
   * Writes k/v [B, T, Hkv, D] of `layer` at the current length; returns views of all S = length+T
   * keys/values (an int8 cache: dequantized f32 copies on access; the decoder uses `attend`).
   */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const end = this.write(layer, k, v);
    const s = this.layers[layer];
    if (!(s.ks && s.vs)) return { k: slice(s.k, 1, 0, end), v: slice(s.v, 1, 0, end) };
    // int8: dequantized copies, made only if asked for (copying a prefix ignores them)
    const [ks, vs] = [s.ks, s.vs];
    return {
      get k() {
        return dequantize(slice(s.k, 1, 0, end), slice(ks, 1, 0, end));
      },
      get v() {
        return dequantize(slice(s.v, 1, 0, end), slice(vs, 1, 0, end));
      },
    };
  }

  private write(layer: number, k: Tensor, v: Tensor): number {
    const end = this.reserve(k.shape[1]);
    const s = this.layers[layer];
    if (s.ks && s.vs) {
      quantizeKv8Into(k, slice(s.k, 1, this.length, end), slice(s.ks, 1, this.length, end));
      quantizeKv8Into(v, slice(s.v, 1, this.length, end), slice(s.vs, 1, this.length, end));
    } else {
      const b = getBackend();
      b.assign(slice(s.k, 1, this.length, end), cast(k, s.k.dtype));
      b.assign(slice(s.v, 1, this.length, end), cast(v, s.v.dtype));
    }
    return end;
  }

  /**
   * Appends k/v [B, T, Hkv, D] (after RoPE) of `layer` and returns attention of q [B, T, Hq, D] over
   * the S = length+T cached positions: the decoder's path, which reads an int8 cache in place.
   */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, args: AttentionArgs): Tensor {
    const end = this.write(layer, k, v);
    const s = this.layers[layer];
    const view = (t: Tensor): Tensor => slice(t, 1, 0, end);
    if (s.ks && s.vs) return attentionKv8(q, view(s.k), view(s.ks), view(s.v), view(s.vs), args);
    return attention(q, view(s.k), view(s.v), args);
  }

  /**
   * A one-token step of a batch-1 bf16 or f32 cache with RoPE still to apply: q [1, 1, Hq, D] and
   * k [1, 1, Hkv, D] rotated at the current length by the tables cos/sin [.., D/2] (k in place: it is
   * consumed), k and v [1, 1, Hkv, D] appended, and attention of q over every cached position, in one call
   * of the backend's fused decode kernel — the same bits as rope then `attend`. Null where that does not
   * apply (nothing is written): the caller runs rope and `attend`.
   */
  attendDecode(layer: number, q: Tensor, k: Tensor, v: Tensor, cos: Tensor, sin: Tensor): Tensor | null {
    const dec = getBackend().decode;
    const slot = dec && k.shape[1] === 1 ? this.decodeSlot(layer) : null;
    if (!dec || !slot) return null;
    return dec.ropeAppendAttend(q, k, v, cos, sin, slot.pos, slot.k, slot.v, 1 / Math.sqrt(this.headDim));
  }

  /**
   * For a kernel that writes one token's keys and values itself and attends over them (the fused decode
   * step, a quantized model's fused layer): the whole caches k, v [1, capacity, Hkv, D] of `layer`, with
   * room made for row `pos` = the current length. Null for an int8 cache or a batch, which run per op.
   */
  decodeSlot(layer: number): { k: Tensor; v: Tensor; pos: number } | null {
    if (this.dtype === 'int8' || this.batch !== 1) return null;
    const pos = this.length;
    this.reserve(1);
    const s = this.layers[layer];
    return { k: s.k, v: s.v, pos };
  }

  /**
   * The first `length` cached keys and values of `layer`, [B, length, Hkv, D] (e.g. to copy a shared
   * prefix): views of an f32/bf16 cache; an int8 cache gives dequantized f32 copies (appending those to
   * another int8 cache quantizes them again, which reproduces the codes up to a last-bit scale change).
   */
  read(layer: number, length = this.length): { k: Tensor; v: Tensor } {
    if (length > this.length) throw new RangeError(`only ${this.length} positions are cached, not ${length}`);
    const s = this.layers[layer];
    if (!(s.ks && s.vs)) return { k: slice(s.k, 1, 0, length), v: slice(s.v, 1, 0, length) };
    return {
      k: dequantize(slice(s.k, 1, 0, length), slice(s.ks, 1, 0, length)),
      v: dequantize(slice(s.v, 1, 0, length), slice(s.vs, 1, 0, length)),
    };
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
    for (const s of this.layers) for (const t of KVCache.tensors(s)) t.dispose();
    this.layers = [];
  }
}
