/**
 * The Backend interface: what a device must compute. Implementations live in src/backends/ and are
 * installed with `setBackend`. Methods return new tensors (allocated with `Tensor.empty`) unless they
 * say "in place". Inputs may be strided views unless a method says "contiguous".
 */
import type { DType } from './dtype.js';
import type { AttentionOptions, BinaryOp, CompareOp, ReduceOp, RopeLayout, UnaryOp } from './op-names.js';
import type { Tensor } from './tensor.js';

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step for bias correction. */
  step: number;
}

/**
 * Fused kernels of a one-token decode step (inference only; src/models/kv-cache.ts's decode path), each
 * giving the same bits as the ops it replaces; null where they do not apply (the caller runs the ops).
 */
export interface DecodeKernels {
  /**
   * One token of one sequence: RoPE (rotate-half, position `pos` of cos/sin [.., D/2]) of q [1, 1, Hq, D]
   * and of k [1, 1, Hkv, D] (rotated in place), k and v appended as row `pos` of the caches
   * [1, capacity, Hkv, D] (bf16 or f32), then attention of the rotated q over the pos + 1 cached rows
   * (causal, `scale`): [1, 1, Hq, D].
   */
  ropeAppendAttend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    cos: Tensor,
    sin: Tensor,
    pos: number,
    kCache: Tensor,
    vCache: Tensor,
    scale: number,
  ): Tensor | null;
}

export interface Backend {
  readonly name: string;
  /** Optional fused one-token decode kernels (absent: the decoder runs the separate ops). */
  readonly decode?: DecodeKernels;
  /** Contiguous copy of any view. */
  contiguous(x: Tensor): Tensor;
  /** Copies `src` (broadcast to dst's shape) into the view `dst`, in place. */
  assign(dst: Tensor, src: Tensor): void;
  fill(dst: Tensor, value: number): void;
  cast(x: Tensor, dtype: DType): Tensor;

  unary(op: UnaryOp, x: Tensor): Tensor;
  /** dx for y = op(x), given x, y and dy (all the same shape). */
  unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor): Tensor;
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
  compare(op: CompareOp, a: Tensor, b: Tensor): Tensor;
  scalar(op: 'add' | 'mul' | 'pow', x: Tensor, value: number): Tensor;
  where(cond: Tensor, a: Tensor, b: Tensor): Tensor;
  reduce(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean): Tensor;

  /** Batched matmul: leading dims of a and b broadcast; the last two are the matrix. */
  matmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor;
  /**
   * Optional fusion of x · Wᵢᵀ for several weights [nᵢ, K] sharing one row x [.., K] (a decode step's
   * q/k/v or gate/up): the outputs concatenated along the last dim [.., Σnᵢ], each equal to its own
   * matmul. Returns null when it does not apply (the caller then runs the matmuls one by one).
   */
  linearMany?(x: Tensor, weights: readonly Tensor[]): Tensor | null;

  softmax(x: Tensor): Tensor;
  softmaxGrad(y: Tensor, dy: Tensor): Tensor;
  logSoftmax(x: Tensor): Tensor;
  logSoftmaxGrad(y: Tensor, dy: Tensor): Tensor;

  /** out[..., :] = weight[ids[...], :]. */
  embedding(weight: Tensor, ids: Tensor): Tensor;
  /** out = copy of base with out[ids[i], :] += src[i, :]. */
  scatterAddRows(base: Tensor, ids: Tensor, src: Tensor): Tensor;

  rmsNorm(x: Tensor, gain: Tensor, eps: number): { y: Tensor; rstd: Tensor };
  rmsNormGrad(x: Tensor, gain: Tensor, rstd: Tensor, dy: Tensor): { dx: Tensor; dgain: Tensor };
  /** LayerNorm with bias over the last axis; mean and rstd per row are kept for the backward. */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): { y: Tensor; mean: Tensor; rstd: Tensor };
  layerNormGrad(
    x: Tensor,
    weight: Tensor,
    mean: Tensor,
    rstd: Tensor,
    dy: Tensor,
  ): { dx: Tensor; dweight: Tensor; dbias: Tensor };
  /** x: [B, T, H, D]; cos/sin: [maxPos, D/2]. `inverse` rotates by −θ (the backward pass). */
  rope(x: Tensor, cos: Tensor, sin: Tensor, posOffset: number, layout: RopeLayout, inverse: boolean): Tensor;
  /** q: [B, T, Hq, D], k/v: [B, S, Hkv, D], mask: additive, broadcastable to [B, Hq, T, S]. */
  attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | null,
    opts: AttentionOptions,
  ): { out: Tensor; lse: Tensor };
  attentionGrad(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | null,
    out: Tensor,
    lse: Tensor,
    dout: Tensor,
    opts: AttentionOptions,
  ): { dq: Tensor; dk: Tensor; dv: Tensor };
  /**
   * The int8 KV cache (inference only): quantizes x [B, T, H, D] (f32) in place into the views codes
   * [B, T, H, D] (i8) and scales [B, T, H] (f32), one scale per position and head.
   */
  quantizeKv8(x: Tensor, codes: Tensor, scales: Tensor): void;
  /** attention with k/v as int8 codes [B, S, Hkv, D] and their scales ks/vs [B, S, Hkv]. */
  attentionKv8(
    q: Tensor,
    k: Tensor,
    ks: Tensor,
    v: Tensor,
    vs: Tensor,
    mask: Tensor | null,
    opts: AttentionOptions,
  ): { out: Tensor; lse: Tensor };
  swiglu(gate: Tensor, up: Tensor): Tensor;
  swigluGrad(gate: Tensor, up: Tensor, dy: Tensor): { dgate: Tensor; dup: Tensor };
  /**
   * Optional fusion of a decoder's residual step for inference (ops-residual.ts): sum = x + s·y and,
   * with a gain, norm = rmsNorm(sum), equal to scalar mul, add and rmsNorm in turn. Returns null when it
   * does not apply (the caller then composes those ops).
   */
  residualNorm?(
    x: Tensor,
    y: Tensor,
    s: number,
    gain: Tensor | null,
    eps: number,
  ): { sum: Tensor; norm: Tensor | null } | null;
  /** logits [N, V], targets i32 [N]: mean NLL over targets ≠ ignoreIndex, plus per-row logsumexp. */
  crossEntropy(
    logits: Tensor,
    targets: Tensor,
    ignoreIndex: number,
  ): { loss: Tensor; lse: Tensor; count: number };
  crossEntropyGrad(logits: Tensor, targets: Tensor, lse: Tensor, dloss: number, ignoreIndex: number): Tensor;

  /** In place: decoupled weight decay then a bias-corrected Adam step. */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWHyper): void;
}

let current: Backend | null = null;

export function setBackend(b: Backend): void {
  current = b;
}

export function getBackend(): Backend {
  if (!current) {
    throw new Error(
      "no tensor backend is installed: import 'minicpm' (or call useBackend() from 'minicpm/backends') before creating tensors",
    );
  }
  return current;
}
