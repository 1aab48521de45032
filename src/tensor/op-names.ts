/**
 * The closed op set of the engine. Every op that autodiff can record is named here with its attributes;
 * `grad-rules.ts` must give each one a gradient rule (or mark it not differentiable) to compile.
 */
import type { Tensor } from './tensor.js';

export type UnaryOp =
  'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sigmoid' | 'tanh' | 'silu' | 'gelu' | 'relu' | 'square' | 'abs';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum';
export type CompareOp = 'eq' | 'gt' | 'lt';
export type ReduceOp = 'sum' | 'max';
export type RopeLayout = 'half' | 'interleaved';

export interface AttentionOptions {
  /** Query i sits at absolute position `qOffset + i`; with `causal` it sees keys 0..qOffset+i. */
  causal: boolean;
  qOffset: number;
  scale: number;
}

export interface OpAttrs {
  unary: { op: UnaryOp };
  binary: { op: BinaryOp };
  compare: { op: CompareOp };
  addScalar: { value: number };
  mulScalar: { value: number };
  powScalar: { value: number };
  sum: { axes: number[]; keepdim: boolean };
  max: { axes: number[]; keepdim: boolean };
  matmul: { transA: boolean; transB: boolean };
  reshape: { shape: number[] };
  permute: { dims: number[] };
  expand: { shape: number[] };
  slice: { axis: number; start: number; end: number };
  contiguous: Record<string, never>;
  concat: { axis: number };
  cast: { dtype: string };
  where: Record<string, never>;
  embedding: Record<string, never>;
  scatterAddRows: Record<string, never>;
  softmax: Record<string, never>;
  logSoftmax: Record<string, never>;
  rmsNorm: { eps: number };
  layerNorm: { eps: number };
  rope: { posOffset: number; layout: RopeLayout };
  attention: AttentionOptions & { hasMask: boolean };
  swiglu: Record<string, never>;
  crossEntropy: { ignoreIndex: number };
  sequenceCrossEntropy: { ignoreIndex: number; rows: number };
  /** y = x · Wᵀ computed outside the engine (e.g. int4 weights); `inputGrad` gives dy · W. */
  frozenLinear: { inputGrad: (dy: Tensor) => Tensor };
  /** A segment run again during backward (checkpoint.ts): `inputGrad` recomputes it and gives d(input). */
  checkpoint: { inputGrad: (dy: Tensor) => Tensor | null };
  /** A scalar whose input gradient the forward already computed for dy = 1 (nn/chunked-head-loss.ts). */
  precomputedGrad: { inputGrad: (dy: Tensor) => Tensor };
}

export type OpName = keyof OpAttrs;
