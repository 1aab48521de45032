/**
 * The int8 KV cache ABI (native/src/attention-kv8.h), flat over typed arrays like NnKernels. Keys and
 * values are int8 codes [B, cap, Hkv, D] with one f32 scale per (batch, position, kv head), scales
 * [B, cap, Hkv]; the granularity and its reasons are in the C header.
 *
 * Quantization of a row x[0, D) (both implementations, bit for bit): amax = max |xᵢ|, d = f32(amax/127),
 * qᵢ = roundHalfAway(f32(xᵢ · f32(1/d))) clamped to [−127, 127]; amax = 0 gives d = 0 and zero codes, a
 * non-finite element d = NaN and zero codes. Attention equals attention over the dequantized rows
 * x̂ᵢ = f32(d · qᵢ) (the same values in both); only the accumulation order differs.
 */
export interface Kv8Kernels {
  /** rows × D contiguous floats from x[xo] → codes[co …] (rows × D) and scales[so …] (rows). */
  kv8Quantize(
    x: Float32Array,
    xo: number,
    rows: number,
    D: number,
    codes: Int8Array,
    co: number,
    scales: Float32Array,
    so: number,
  ): void;
  /**
   * q [B, T, Hq, D] against the first S positions of an int8 cache whose batch entries are `cap`
   * positions apart → out [B, T, Hq, D], lse [B, Hq, T]. Query t sits at position qOffset + t.
   */
  attentionFwdKv8(
    q: Float32Array,
    qo: number,
    k: Int8Array,
    ko: number,
    ks: Float32Array,
    kso: number,
    v: Int8Array,
    vo: number,
    vs: Float32Array,
    vso: number,
    cap: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    B: number,
    T: number,
    S: number,
    Hq: number,
    Hkv: number,
    D: number,
    qOffset: number,
    causal: number,
    scale: number,
  ): void;
}

/**
 * Whether a kernel object (the addon, the wasm kernels) carries the int8 KV cache family; a wasm
 * module built before it says so through kv8Available.
 */
export function hasKv8Kernels(k: object | null | undefined): k is Kv8Kernels {
  const p = k as (Partial<Kv8Kernels> & { kv8Available?: () => boolean }) | null | undefined;
  return (
    typeof p?.kv8Quantize === 'function' &&
    typeof p.attentionFwdKv8 === 'function' &&
    (typeof p.kv8Available !== 'function' || p.kv8Available())
  );
}
