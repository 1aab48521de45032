/**
 * The quantized-matmul ABI (W2/W4/W8 weights × f32 activations via int8), flat over typed arrays like
 * GemmKernels. The weight layout is documented in src/quant/qweight.ts; in short, per weight: `codes`
 * (tiles × blocks × 128 bytes for W2, 256 for W4, 512 for W8), fp16 `scales` and uint8 `zeros` (tiles × blocks × 16),
 * tiles of 16 output rows, blocks of 32 input columns in packed order.
 *
 * Arithmetic (both implementations): each 32-element block of an activation row, gathered by `perm`
 * (packed column j reads x[perm[j]]), is quantized symmetrically to int8: d = amax/127 (f32),
 * q = roundHalfAway(x · (1/d)); the block's scale d and code sum Σq are kept. Then
 *   y[m, o] = Σ_b (scale(o, b) · d(m, b)) · (Σ_k code(o, k)·q(m, k) − zero(o, b) · Σq(m, b))
 * with the integer part exact and the block terms accumulated in f32 in block order.
 *
 * A weight is symmetric when every zero is 2^(bits−1) (the int8 head, Q4_0/Q8_0 files, AutoGPTQ
 * sym=True; src/quant/qweight.ts isSymmetric). The callers say so in a `sym` mask, bit i for weight i,
 * and the native one-row GEMV then never reads those zeros: the same result with 16 bytes per block
 * (1/32 of a W8 weight, 1/19 of a W4 one) less to stream. A set bit is a promise about the data.
 */
export interface QuantKernels {
  /**
   * Activation quantization alone (the first stage of qmatmul), for tests: xq [M·K] int8, xd [M·K/32]
   * block scales, xs [M·K/32] block code sums.
   */
  qquantize(
    M: number,
    K: number,
    x: Float32Array,
    xOff: number,
    ldx: number,
    perm: Int32Array | null,
    xq: Int8Array,
    xd: Float32Array,
    xs: Int32Array,
  ): void;
  /**
   * y[yOff + m·ldy + o_i + j] = row m of x (K wide, gathered by perm) · weight i's row j, for j < ns[i]
   * and o_i = ns[0] + … + ns[i−1]. All weights share K, bits (2, 4 or 8) and perm; at most 8 of them.
   */
  qmatmul(
    M: number,
    K: number,
    bits: number,
    x: Float32Array,
    xOff: number,
    ldx: number,
    perm: Int32Array | null,
    codes: Uint8Array[],
    scales: Uint16Array[],
    zeros: Uint8Array[],
    ns: number[],
    y: Float32Array,
    yOff: number,
    ldy: number,
    sym?: number,
  ): void;
  /**
   * Bytes from the buffer's start to its first 2 MiB boundary (−1 when it has none), with transparent huge
   * pages requested from there to its end (native addon only: the place for large quantized weights).
   */
  hugeAlignOffset?(buffer: ArrayBuffer): number;
  /**
   * A quantized decoder layer's fixed part for qdecodeLayer (native addon only): the runs as qmatmul takes
   * them — q/k/v (3 weights, in that order), o, gate/up (2 weights), down — each
   * [bits, perm, codes[], scales[], zeros[], ns[], sym], the post-attention norm gain [d] and the sizes. Checked
   * once here; the plan holds on to every array it points into.
   */
  qdecodeLayerPlan?(
    qkv: QRunArgs,
    o: QRunArgs,
    gateUp: QRunArgs,
    down: QRunArgs,
    postGain: Float32Array,
    postGainOff: number,
    d: number,
    ff: number,
    Hq: number,
    Hkv: number,
    D: number,
    eps: number,
    residual: number,
    attnScale: number,
  ): QDecodePlan;
  /** Floats of scratch qdecodeLayer needs for `plan`. */
  qdecodeLayerScratch?(plan: QDecodePlan): number;
  /**
   * One token through the layer (native/src/qdecode-layer.h), the per-op decode step's kernels in one call:
   * sum [d] = x + the layer's two residual branches, norm [d] = RMSNorm(sum)·nextGain (left alone when
   * nextGain is null), the cache's row pos written (Uint16Array bf16 bits or Float32Array [capacity, Hkv, D]).
   * False, with nothing touched, where the fused attention step declines.
   */
  qdecodeLayer?(
    plan: QDecodePlan,
    x: Float32Array,
    xOff: number,
    xn: Float32Array,
    xnOff: number,
    nextGain: Float32Array | null,
    ngOff: number,
    pos: number,
    kCache: Uint16Array | Float32Array,
    kcOff: number,
    vCache: Uint16Array | Float32Array,
    vcOff: number,
    cos: Float32Array,
    cosOff: number,
    sin: Float32Array,
    sinOff: number,
    sum: Float32Array,
    sumOff: number,
    norm: Float32Array,
    normOff: number,
    scratch: Float32Array,
    scratchOff: number,
  ): boolean;
  /** Floats of scratch qdecodeLayers needs for `plans`. */
  qdecodeLayersScratch?(plans: QDecodePlan[]): number;
  /**
   * One token through every plan's layer in turn (native/src/qdecode-layer.h, mc_qdecode_layers): x, xn
   * into the first, each layer's sum and norm into the next, the last's into sum and norm. Per layer its
   * next norm's gain [d] and its caches, each read from index 0. False, with nothing touched, where the
   * fused attention step declines.
   */
  qdecodeLayers?(
    plans: QDecodePlan[],
    x: Float32Array,
    xOff: number,
    xn: Float32Array,
    xnOff: number,
    nextGains: Float32Array[],
    pos: number,
    kCaches: (Uint16Array | Float32Array)[],
    vCaches: (Uint16Array | Float32Array)[],
    cos: Float32Array,
    cosOff: number,
    sin: Float32Array,
    sinOff: number,
    sum: Float32Array,
    sumOff: number,
    norm: Float32Array,
    normOff: number,
    scratch: Float32Array,
    scratchOff: number,
  ): boolean;
  /** Floats of scratch qdecodeToken needs for `plans`. */
  qdecodeTokenScratch?(plans: QDecodePlan[]): number;
  /**
   * The whole token in one call (native/src/qdecode-layer.h, mc_qdecode_token): x [d] is its scaled
   * embedding; RMSNorm(x)·firstGain, the layers as qdecodeLayers (the last next gain is the final norm's),
   * that norm times logitScale (skipped at 1), and logits = head · it, the head a run as qmatmul takes it.
   * The per-op forward's kernels in its order, so the logits are its bits. False, with nothing touched,
   * where the fused attention step declines.
   */
  qdecodeToken?(
    plans: QDecodePlan[],
    x: Float32Array,
    xOff: number,
    firstGain: Float32Array,
    firstGainOff: number,
    nextGains: Float32Array[],
    pos: number,
    kCaches: (Uint16Array | Float32Array)[],
    vCaches: (Uint16Array | Float32Array)[],
    cos: Float32Array,
    cosOff: number,
    sin: Float32Array,
    sinOff: number,
    logitScale: number,
    head: QRunArgs,
    logits: Float32Array,
    logitsOff: number,
    scratch: Float32Array,
    scratchOff: number,
  ): boolean;
}

/** One qmatmul call's weights: bits, perm, codes[], scales[], zeros[], ns[] and the symmetric mask (none if left out). */
export type QRunArgs = [
  number,
  Int32Array | null,
  Uint8Array[],
  Uint16Array[],
  Uint8Array[],
  number[],
  number?,
];

/** A decode layer's plan (an opaque native handle). */
export type QDecodePlan = object & { readonly __qdecodePlan?: never };

export const QMATMUL_MAX_WEIGHTS = 8;
