/**
 * The kernel ABI: flat functions over typed arrays with explicit element offsets, row-major.
 * Two implementations share it: `kernels-ref` (plain TypeScript loops, the executable spec) and
 * `kernels-native` (the C library in native/ through N-API). Tests hold them to each other.
 */
export interface GemmKernels {
  /**
   * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, all row-major.
   * op(A) = A when !transA (A is [M,K], lda >= K) else Aᵀ (A is [K,M], lda >= M); same for B.
   * beta = 0 must ignore C's previous contents (NaN in C must not leak).
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    B: Float32Array,
    bOff: number,
    ldb: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
  ): void;
  /** `batch` independent sgemms; operand i starts at off + i*stride (a stride of 0 broadcasts). */
  sgemmBatched(
    batch: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    strideA: number,
    B: Float32Array,
    bOff: number,
    ldb: number,
    strideB: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
    strideC: number,
  ): void;
  /**
   * Mixed precision: C[M,N] = alpha * A[M,K](f32) · W[N,K]ᵀ(bf16 bits) + beta * C.
   * W is in PyTorch [out, in] layout (the weight of a Linear), ldw >= K.
   */
  gemmBf16(
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    W: Uint16Array,
    wOff: number,
    ldw: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
  ): void;
  /**
   * Several GEMVs sharing x (one decode step's q/k/v or gate/up projections), as one pass:
   * y[yOff + o_i + j] = Σ_k W_i[wOffs[i] + j·K + k] · x[xOff + k] for j < ns[i], o_i = ns[0] + … + ns[i−1].
   * Every W_i holds contiguous rows of K; all f32 or all bf16 bits. Optional: a backend without it
   * runs the projections one by one.
   */
  gemvMany?(
    x: Float32Array,
    xOff: number,
    K: number,
    ws: readonly (Float32Array | Uint16Array)[],
    wOffs: readonly number[],
    ns: readonly number[],
    y: Float32Array,
    yOff: number,
  ): void;
  /**
   * Row-exact multi-row GEMV: Y[i, j] = Σ_k X[i, k] · W[j, k] for i < M, j < N, each row bitwise equal
   * to the same row through sgemm / gemmBf16 with M = 1, whatever M is (batch invariance), with W read
   * from memory once for all rows. W f32 or bf16 bits, [N, K] with leading dim ldw. Optional: without
   * it the caller runs one M = 1 product per row.
   */
  gemvRows?(
    M: number,
    N: number,
    K: number,
    X: Float32Array,
    xOff: number,
    ldx: number,
    W: Float32Array | Uint16Array,
    wOff: number,
    ldw: number,
    Y: Float32Array,
    yOff: number,
    ldy: number,
  ): void;
}

export type Kernels = GemmKernels;

/**
 * Row-wise and elementwise kernels over contiguous f32 (native/src/nn.h). Arrays come with element
 * offsets. The TypeScript reference loops in cpu/ are their twins; the backend uses these only for
 * contiguous f32 data and falls back to the loops otherwise.
 */
export interface NnKernels {
  rmsnormFwd(
    x: Float32Array,
    xo: number,
    g: Float32Array,
    go: number,
    y: Float32Array,
    yo: number,
    rstd: Float32Array,
    ro: number,
    rows: number,
    D: number,
    eps: number,
  ): void;
  rmsnormBwd(
    x: Float32Array,
    xo: number,
    g: Float32Array,
    go: number,
    rstd: Float32Array,
    ro: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    dg: Float32Array,
    dgo: number,
    rows: number,
    D: number,
  ): void;
  softmaxFwd(
    x: Float32Array,
    xo: number,
    y: Float32Array,
    yo: number,
    rows: number,
    V: number,
    log: number,
  ): void;
  softmaxBwd(
    y: Float32Array,
    yo: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    rows: number,
    V: number,
    log: number,
  ): void;
  /** Returns [Σ(lse − logit[target]) over kept rows, kept-row count, first bad row or −1]. */
  ceFwd(
    logits: Float32Array,
    lo: number,
    targets: Int32Array,
    to: number,
    lse: Float32Array,
    lseo: number,
    rows: number,
    V: number,
    ignore: number,
  ): [number, number, number];
  ceBwd(
    logits: Float32Array,
    lo: number,
    targets: Int32Array,
    to: number,
    lse: Float32Array,
    lseo: number,
    dl: Float32Array,
    dlo: number,
    rows: number,
    V: number,
    scale: number,
    ignore: number,
  ): void;
  swigluFwd(
    g: Float32Array,
    go: number,
    u: Float32Array,
    uo: number,
    y: Float32Array,
    yo: number,
    n: number,
  ): void;
  swigluBwd(
    g: Float32Array,
    go: number,
    u: Float32Array,
    uo: number,
    dy: Float32Array,
    dyo: number,
    dg: Float32Array,
    dgo: number,
    du: Float32Array,
    duo: number,
    n: number,
  ): void;
  rope(
    x: Float32Array,
    xo: number,
    cos: Float32Array,
    co: number,
    sin: Float32Array,
    so: number,
    y: Float32Array,
    yo: number,
    B: number,
    T: number,
    H: number,
    D: number,
    pos0: number,
    interleaved: number,
    inverse: number,
  ): void;
  adamw(
    p: Float32Array,
    po: number,
    g: Float32Array,
    go: number,
    m: Float32Array,
    mo: number,
    v: Float32Array,
    vo: number,
    n: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    wd: number,
    bc1: number,
    bc2: number,
  ): void;
  /** op: index in UNARY_OPS. */
  unary(op: number, x: Float32Array, xo: number, y: Float32Array, yo: number, n: number): void;
  unaryGrad(
    op: number,
    x: Float32Array,
    xo: number,
    y: Float32Array,
    yo: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    n: number,
  ): void;
  /** out[i] = a[i] op b[i % period]; op: index in BINARY_OPS. */
  binary(
    op: number,
    a: Float32Array,
    ao: number,
    b: Float32Array,
    bo: number,
    out: Float32Array,
    oo: number,
    n: number,
    period: number,
  ): void;
  affine(x: Float32Array, xo: number, y: Float32Array, yo: number, n: number, s: number, t: number): void;
  /**
   * A prefill's residual step (native/src/prefill-residual.h): out = x + s·y over rows × D, and with
   * `withNorm` also norm = RMSNorm(out)·g; equal bit for bit to affine, binary add and rmsnormFwd in turn.
   */
  prefillResidual?(
    x: Float32Array,
    xo: number,
    y: Float32Array,
    yo: number,
    out: Float32Array,
    oo: number,
    g: Float32Array,
    go: number,
    norm: Float32Array,
    no: number,
    s: number,
    rows: number,
    D: number,
    eps: number,
    withNorm: number,
  ): void;
  /** dst[o, i] = Σ_r (op 0) or max_r (op 1) of src[o, r, i]. */
  reduce(
    op: number,
    src: Float32Array,
    so: number,
    dst: Float32Array,
    dO: number,
    outer: number,
    r: number,
    inner: number,
  ): void;
  /** Causal/full GQA attention over [B, T, H, D] layouts; lse is [B, Hq, T]. */
  attentionFwd(
    q: Float32Array,
    qo: number,
    k: Float32Array,
    ko: number,
    v: Float32Array,
    vo: number,
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
  /** attentionFwd over a bf16 KV cache (k, v as bf16 bits): decode reads them directly. */
  attentionFwdBf16Kv(
    q: Float32Array,
    qo: number,
    k: Uint16Array,
    ko: number,
    v: Uint16Array,
    vo: number,
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
  /**
   * One query row over a bf16 KV cache that sees every key (native/src/addon-decode.c, AVX-512 only):
   * false where it declines (no AVX-512, head size not a multiple of 16) and the caller takes
   * attentionFwdBf16Kv; the addon only.
   */
  decodeAttentionBf16?(
    q: Float32Array,
    qo: number,
    k: Uint16Array,
    ko: number,
    v: Uint16Array,
    vo: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    B: number,
    S: number,
    Hq: number,
    Hkv: number,
    D: number,
    scale: number,
  ): boolean;
  /**
   * One token's RoPE (q into qr, k in place), KV append at row `pos` of caches [capacity, Hkv, D] (bf16
   * bits or f32) and attention over pos + 1 rows (native/src/decode-step.h): false, nothing touched,
   * where the attention op would take another kernel; the addon only.
   */
  decodeRopeAppendAttend?(
    q: Float32Array,
    qo: number,
    k: Float32Array,
    ko: number,
    v: Float32Array,
    vo: number,
    cos: Float32Array,
    co: number,
    sin: Float32Array,
    so: number,
    pos: number,
    kCache: Uint16Array | Float32Array,
    kco: number,
    vCache: Uint16Array | Float32Array,
    vco: number,
    qr: Float32Array,
    qro: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    Hq: number,
    Hkv: number,
    D: number,
    scale: number,
  ): boolean;
  /** f32 → bf16 bits over n contiguous elements (bf16-convert.ts's f32ToBf16Run); the addon only. */
  f32ToBf16?(x: Float32Array, xo: number, y: Uint16Array, yo: number, n: number): void;
  /** bf16 bits → f32 over n contiguous elements; the addon only. */
  bf16ToF32?(x: Uint16Array, xo: number, y: Float32Array, yo: number, n: number): void;
  attentionBwd(
    q: Float32Array,
    qo: number,
    k: Float32Array,
    ko: number,
    v: Float32Array,
    vo: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    dout: Float32Array,
    doo: number,
    dq: Float32Array,
    dqo: number,
    dk: Float32Array,
    dko: number,
    dv: Float32Array,
    dvo: number,
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

/** Op numbering shared with native/src/nn.h. */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'sigmoid',
  'tanh',
  'silu',
  'gelu',
  'relu',
  'square',
  'abs',
] as const;
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
