/**
 * The CPU backend: TypeScript reference loops for everything, with the GEMM family routed through a
 * `GemmKernels` implementation (native C when built, the TypeScript twin otherwise).
 */
import type {
  AdamWHyper,
  AttentionOptions,
  Backend,
  BinaryOp,
  CompareOp,
  DecodeKernels,
  DType,
  ReduceOp,
  RopeLayout,
  Tensor,
  UnaryOp,
} from '../../tensor/index.js';
import type { GemmKernels, NnKernels } from '../kernels.js';
import { NativeNn } from './native-nn.js';
import { residualNormNative } from './prefill-residual.js';
import { attention, attentionGrad } from './attention.js';
import { attentionGemm, attentionGemmGrad } from './attention-gemm.js';
import { attentionKv8, dequantizeKv8, quantizeKv8 } from './attention-kv8.js';
import { hasKv8Kernels, type Kv8Kernels } from '../kernels-kv8.js';
import { refKv8Kernels } from '../kernels-ref-kv8.js';
import * as ew from './elementwise.js';
import { linearMany, matmul } from './matmul.js';
import * as ln from './layer-norm.js';
import * as nn from './nn.js';
import { reduce } from './reduce.js';

export class CpuBackend implements Backend {
  constructor(
    readonly name: string,
    private readonly gemm: GemmKernels,
    /** Route attention through GEMMs (off for the pure reference backend: its loops are the oracle). */
    private readonly fastAttention = true,
    nnKernels?: NnKernels,
  ) {
    this.fast = nnKernels ? new NativeNn(nnKernels) : null;
    this.decode = this.fast?.decodeKernels();
    this.nnKernels = nnKernels ?? null;
    this.kv8 = hasKv8Kernels(nnKernels) ? nnKernels : refKv8Kernels;
  }

  /** The int8 KV cache kernels: the addon's or the wasm module's when they carry them, else the twin. */
  private readonly kv8: Kv8Kernels;

  /** Native row/elementwise kernels, used when inputs are contiguous f32. */
  private readonly fast: NativeNn | null;
  /** The addon's fused one-token decode kernels (native-nn.ts), absent on the TypeScript twin. */
  readonly decode?: DecodeKernels;
  private readonly nnKernels: NnKernels | null;

  contiguous = (x: Tensor): Tensor => ew.contiguous(x);
  assign = (dst: Tensor, src: Tensor): void => ew.assign(dst, src);
  fill = (dst: Tensor, value: number): void => ew.fill(dst, value);
  cast = (x: Tensor, dtype: DType): Tensor => this.fast?.cast(x, dtype) ?? ew.cast(x, dtype);
  unary = (op: UnaryOp, x: Tensor): Tensor => this.fast?.unary(op, x) ?? ew.unary(op, x);
  unaryGrad = (op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor): Tensor =>
    this.fast?.unaryGrad(op, x, y, dy) ?? ew.unaryGrad(op, x, y, dy);
  binary = (op: BinaryOp, a: Tensor, b: Tensor): Tensor => this.fast?.binary(op, a, b) ?? ew.binary(op, a, b);
  compare = (op: CompareOp, a: Tensor, b: Tensor): Tensor => ew.compare(op, a, b);
  scalar = (op: 'add' | 'mul' | 'pow', x: Tensor, value: number): Tensor =>
    this.fast?.scalar(op, x, value) ?? ew.scalar(op, x, value);
  where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => ew.where(cond, a, b);
  reduce = (op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean): Tensor =>
    reduce(op, x, axes, keepdim, x.dtype === 'f32' ? this.fast : null);
  matmul = (a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor =>
    matmul(this.gemm, a, b, transA, transB);
  linearMany = (x: Tensor, weights: readonly Tensor[]): Tensor | null => linearMany(this.gemm, x, weights);
  softmax = (x: Tensor): Tensor => this.fast?.softmax(x, false) ?? nn.softmax(x, false);
  softmaxGrad = (y: Tensor, dy: Tensor): Tensor =>
    this.fast?.softmaxGrad(y, dy, false) ?? nn.softmaxGrad(y, dy, false);
  logSoftmax = (x: Tensor): Tensor => this.fast?.softmax(x, true) ?? nn.softmax(x, true);
  logSoftmaxGrad = (y: Tensor, dy: Tensor): Tensor =>
    this.fast?.softmaxGrad(y, dy, true) ?? nn.softmaxGrad(y, dy, true);
  embedding = (weight: Tensor, ids: Tensor): Tensor => nn.embedding(weight, ids);
  scatterAddRows = (base: Tensor, ids: Tensor, src: Tensor): Tensor => nn.scatterAddRows(base, ids, src);
  rmsNorm = (x: Tensor, gain: Tensor, eps: number) =>
    this.fast?.rmsNorm(x, gain, eps) ?? nn.rmsNorm(x, gain, eps);
  rmsNormGrad = (x: Tensor, gain: Tensor, rstd: Tensor, dy: Tensor) =>
    this.fast?.rmsNormGrad(x, gain, rstd, dy) ?? nn.rmsNormGrad(x, gain, rstd, dy);
  layerNorm = (x: Tensor, weight: Tensor, bias: Tensor, eps: number) => ln.layerNorm(x, weight, bias, eps);
  layerNormGrad = (x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor) =>
    ln.layerNormGrad(x, weight, mean, rstd, dy);
  rope = (x: Tensor, cos: Tensor, sin: Tensor, pos: number, layout: RopeLayout, inverse: boolean): Tensor =>
    this.fast?.rope(x, cos, sin, pos, layout, inverse) ?? nn.rope(x, cos, sin, pos, layout, inverse);
  /** f32 without a mask runs through GEMM calls; masks and f64 use the reference loops. */
  private gemmAttention(q: Tensor, mask: Tensor | null): boolean {
    return this.fastAttention && !mask && q.dtype === 'f32';
  }
  attention = (
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | null,
    opts: AttentionOptions,
  ): { out: Tensor; lse: Tensor } => {
    const fast = this.gemmAttention(q, mask) ? this.fast?.attention(q, k, v, opts) : null;
    if (fast) return fast;
    if (k.dtype !== q.dtype || v.dtype !== q.dtype) return this.widenedAttention(q, k, v, mask, opts);
    return this.gemmAttention(q, mask)
      ? attentionGemm(this.gemm, q, k, v, opts)
      : attention(q, k, v, mask, opts);
  };
  /** A bf16 KV cache where no kernel reads it directly (masks, the reference backend): widen, then attend. */
  private widenedAttention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, opts: AttentionOptions) {
    const kw = this.cast(k, q.dtype);
    const vw = this.cast(v, q.dtype);
    try {
      return this.attention(q, kw, vw, mask, opts);
    } finally {
      kw.dispose();
      vw.dispose();
    }
  }
  attentionGrad = (
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | null,
    out: Tensor,
    lse: Tensor,
    dout: Tensor,
    opts: AttentionOptions,
  ) =>
    (this.gemmAttention(q, mask) ? this.fast?.attentionGrad(q, k, v, out, lse, dout, opts) : null) ??
    (this.gemmAttention(q, mask)
      ? attentionGemmGrad(this.gemm, q, k, v, out, lse, dout, opts)
      : attentionGrad(q, k, v, mask, out, lse, dout, opts));
  quantizeKv8 = (x: Tensor, codes: Tensor, scales: Tensor): void => quantizeKv8(this.kv8, x, codes, scales);
  /** With a mask, attention runs over the dequantized cache (the same values the kernels use). */
  attentionKv8 = (
    q: Tensor,
    k: Tensor,
    ks: Tensor,
    v: Tensor,
    vs: Tensor,
    mask: Tensor | null,
    opts: AttentionOptions,
  ): { out: Tensor; lse: Tensor } => {
    if (!mask) return attentionKv8(this.kv8, q, k, ks, v, vs, opts);
    const kf = dequantizeKv8(k, ks);
    const vf = dequantizeKv8(v, vs);
    try {
      return this.attention(q, kf, vf, mask, opts);
    } finally {
      kf.dispose();
      vf.dispose();
    }
  };
  swiglu = (gate: Tensor, up: Tensor): Tensor => this.fast?.swiglu(gate, up) ?? nn.swiglu(gate, up);
  residualNorm = (x: Tensor, y: Tensor, s: number, gain: Tensor | null, eps: number) =>
    this.nnKernels ? residualNormNative(this.nnKernels, x, y, s, gain, eps) : null;
  swigluGrad = (gate: Tensor, up: Tensor, dy: Tensor) =>
    this.fast?.swigluGrad(gate, up, dy) ?? nn.swigluGrad(gate, up, dy);
  crossEntropy = (logits: Tensor, targets: Tensor, ignoreIndex: number) =>
    this.fast?.crossEntropy(logits, targets, ignoreIndex) ?? nn.crossEntropy(logits, targets, ignoreIndex);
  crossEntropyGrad = (
    logits: Tensor,
    targets: Tensor,
    lse: Tensor,
    dloss: number,
    ignoreIndex: number,
  ): Tensor =>
    this.fast?.crossEntropyGrad(logits, targets, lse, dloss, ignoreIndex) ??
    nn.crossEntropyGrad(logits, targets, lse, dloss, ignoreIndex);
  adamw = (param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWHyper): void => {
    if (!this.fast?.adamw(param, grad, m, v, hp)) nn.adamw(param, grad, m, v, hp);
  };
}
