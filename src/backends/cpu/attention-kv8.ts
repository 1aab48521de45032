/**
 * The int8 KV cache at the tensor level (Backend.quantizeKv8 / attentionKv8): unpacks views of the
 * cache into the flat kernel ABI (kernels-kv8.ts). Cache views are slices along the position axis of
 * [B, cap, Hkv, D] codes and [B, cap, Hkv] scales, so each batch entry is contiguous and entries are
 * `cap` positions apart; anything else is made contiguous first.
 */
import { ShapeError, Tensor, type AttentionOptions } from '../../tensor/index.js';
import type { Kv8Kernels } from '../kernels-kv8.js';

interface CacheWindow {
  codes: Int8Array;
  co: number;
  scales: Float32Array;
  so: number;
  cap: number;
  /** Copies made here (disposed by the caller). */
  owned: Tensor[];
}

const packed = (t: Tensor): Tensor => (t.isContiguous() ? t : t.contiguousCopy());

/** Whether t's inner dims (from axis 1) are packed row-major. */
function innerPacked(t: Tensor): boolean {
  let step = 1;
  for (let i = t.rank - 1; i >= 1; i--) {
    if (t.shape[i] !== 1 && t.strides[i] !== step) return false;
    step *= t.shape[i];
  }
  return true;
}

/** codes [B, S, H, D] i8 and scales [B, S, H] f32 as kernel operands. */
function cacheWindow(codes: Tensor, scales: Tensor): CacheWindow {
  const [B, S, H, D] = codes.shape;
  const owned: Tensor[] = [];
  let c = codes;
  let s = scales;
  let cap = S;
  const capOf = (t: Tensor, row: number): number => t.strides[0] / row;
  const fits =
    innerPacked(c) &&
    innerPacked(s) &&
    (B === 1 || (Number.isInteger(capOf(c, H * D)) && capOf(c, H * D) === capOf(s, H) && capOf(s, H) >= S));
  if (fits) cap = B === 1 ? S : capOf(s, H);
  else {
    c = codes.contiguousCopy();
    s = scales.contiguousCopy();
    owned.push(c, s);
  }
  return {
    codes: c.data as Int8Array,
    co: c.offset,
    scales: s.data as Float32Array,
    so: s.offset,
    cap,
    owned,
  };
}

/** Quantizes x [B, T, H, D] into the views codes [B, T, H, D] (i8) and scales [B, T, H] (f32), in place. */
export function quantizeKv8(kern: Kv8Kernels, x: Tensor, codes: Tensor, scales: Tensor): void {
  const [B, T, H, D] = x.shape;
  const xc = packed(x);
  try {
    if (!innerPacked(codes) || !innerPacked(scales))
      throw new ShapeError(
        'quantizeKv8: codes/scales must be position slices of a [B, cap, H, D] / [B, cap, H] cache (as KVCache makes them)',
      );
    for (let b = 0; b < B; b++)
      kern.kv8Quantize(
        xc.data as Float32Array,
        xc.offset + b * T * H * D,
        T * H,
        D,
        codes.data as Int8Array,
        codes.offset + b * codes.strides[0],
        scales.data as Float32Array,
        scales.offset + b * scales.strides[0],
      );
  } finally {
    if (xc !== x) xc.dispose();
  }
}

/** Dequantized f32 copy [B, S, H, D] of an int8 cache view: x̂ = f32(scale · code). */
export function dequantizeKv8(codes: Tensor, scales: Tensor): Tensor {
  const [B, S, H, D] = codes.shape;
  const w = cacheWindow(codes, scales);
  const out = Tensor.empty([B, S, H, D]);
  const o = out.data as Float32Array;
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++)
      for (let h = 0; h < H; h++) {
        const row = (b * w.cap + s) * H + h;
        const d = w.scales[w.so + row];
        const dst = ((b * S + s) * H + h) * D;
        for (let i = 0; i < D; i++) o[dst + i] = d * w.codes[w.co + row * D + i];
      }
  for (const t of w.owned) t.dispose();
  return out;
}

/** Attention of q [B, T, Hq, D] (f32, contiguous or not) over an int8 cache through the kernels. */
export function attentionKv8(
  kern: Kv8Kernels,
  q: Tensor,
  k: Tensor,
  ks: Tensor,
  v: Tensor,
  vs: Tensor,
  opts: AttentionOptions,
): { out: Tensor; lse: Tensor } {
  const [B, T, Hq, D] = q.shape;
  const [, S, Hkv] = k.shape;
  const qc = packed(q);
  const kw = cacheWindow(k, ks);
  const vw = cacheWindow(v, vs);
  try {
    if (kw.cap !== vw.cap)
      throw new ShapeError(
        'attentionKv8: keys and values must be views of one cache (their batch entries lie a different number of positions apart)',
      );
    const out = Tensor.empty([B, T, Hq, D]);
    const lse = Tensor.empty([B, Hq, T]);
    kern.attentionFwdKv8(
      qc.data as Float32Array,
      qc.offset,
      kw.codes,
      kw.co,
      kw.scales,
      kw.so,
      vw.codes,
      vw.co,
      vw.scales,
      vw.so,
      kw.cap,
      out.data as Float32Array,
      0,
      lse.data as Float32Array,
      0,
      B,
      T,
      S,
      Hq,
      Hkv,
      D,
      opts.qOffset,
      opts.causal ? 1 : 0,
      opts.scale,
    );
    return { out, lse };
  } finally {
    if (qc !== q) qc.dispose();
    for (const t of [...kw.owned, ...vw.owned]) t.dispose();
  }
}
