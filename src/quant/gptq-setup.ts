// What GPTQ does before and after its column sweep, shared by the blocked solver (gptq.ts) and its
// naive twin (gptq-ref.ts): dead columns, act-order permutation, damping; then undoing the permutation
// and recording g_idx, as AutoGPTQ's GPTQ.fasterquant does.

import { QuantShapeError } from './errors.js';
import type { Matrix } from './matrix.js';
import { checkWeight, groupCount, resolveGroupSize, type QuantizedLinear } from './quantized.js';
import { makeQuantizer, type Quantizer, type QuantizerOptions } from './quantizer.js';

export interface GptqOptions extends QuantizerOptions {
  /** Input columns per group (MiniCPM-2B-sft-int4: 32); −1 for one group per row. Default 128. */
  groupSize?: number;
  /** Relative damping: H += damp·mean(diag H)·I (AutoGPTQ's damp_percent). Default 0.01. */
  damp?: number;
  /** Quantize columns by descending diag(H) (AutoGPTQ's desc_act). Default false. */
  actOrder?: boolean;
  /** Columns per lazy-update block. Default 128, as in the GPTQ paper. */
  blockSize?: number;
  /**
   * Which weights a group's min/max are taken from when the group starts. 'updated' (default): the
   * weights with every earlier column's error already spread onto them. 'block-start': the values as
   * of the start of the current block, which is what GPTQ's and AutoGPTQ's code read (their in-block
   * updates go to a copy); the two agree whenever groups start only at block starts.
   */
  groupStats?: 'updated' | 'block-start';
}

export interface GptqResult extends QuantizedLinear {
  /** Processing order under act-order (perm[p] = original column quantized p-th), else null. */
  readonly perm: Int32Array | null;
  /** AutoGPTQ's reported error: Σ (w − q)²/U[i,i]² / 2 over the weights (U is its `Hinv`). */
  readonly loss: number;
}

/** H made ready for the sweep: dead columns fixed, permuted under act-order, damped. Depends on H only. */
export interface PreparedHessian {
  readonly columns: number;
  readonly damp: number;
  readonly actOrder: boolean;
  /** 1 for columns no calibration row touched (diag H = 0); their weights are zeroed. */
  readonly dead: Uint8Array;
  /** Processing order (perm[p] = original column) under act-order, else null. */
  readonly perm: Int32Array | null;
  /** The prepared matrix, in processing order. */
  readonly h: Float64Array;
}

export function prepareHessian(
  hessian: Float64Array,
  columns: number,
  opts: Pick<GptqOptions, 'damp' | 'actOrder'>,
): PreparedHessian {
  const n = columns;
  if (hessian.length !== n * n) {
    throw new QuantShapeError(
      `weight has ${n} input columns but the Hessian has ${hessian.length} values (expected ${n} × ${n})`,
    );
  }
  const damp = opts.damp ?? 0.01;
  if (!(damp >= 0) || !Number.isFinite(damp)) throw new QuantShapeError(`damp must be ≥ 0, got ${damp}`);
  let h: Float64Array = Float64Array.from(hessian);
  for (let i = 0; i < h.length; i++) {
    if (!Number.isFinite(h[i])) throw new QuantShapeError(`the Hessian has a non-finite value at ${i}`);
  }
  // A column no calibration row ever touched carries no information: AutoGPTQ puts 1 on its diagonal
  // (so the factorization stays defined) and zeroes its weights.
  const dead = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (h[i * n + i] !== 0) continue;
    dead[i] = 1;
    h[i * n + i] = 1;
  }
  let perm: Int32Array | null = null;
  if (opts.actOrder) {
    // Stable: equal diagonals keep their column order (torch.argsort leaves ties unspecified).
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => h[b * n + b] - h[a * n + a] || a - b);
    perm = Int32Array.from(order);
    h = permuteSymmetric(h, n, perm);
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i];
  mean /= n;
  for (let i = 0; i < n; i++) h[i * n + i] += damp * mean;
  return { columns: n, damp, actOrder: opts.actOrder ?? false, dead, perm, h };
}

export interface GptqSetup {
  readonly quant: Quantizer;
  readonly out: number;
  readonly cols: number;
  readonly groupSize: number;
  readonly groups: number;
  readonly blockSize: number;
  readonly groupStats: 'updated' | 'block-start';
  /** Working copy of the weight: dead columns zeroed, columns in processing order. */
  readonly w: Float64Array;
  readonly perm: Int32Array | null;
}

export function gptqSetup(weight: Matrix, prepared: PreparedHessian, opts: GptqOptions): GptqSetup {
  checkWeight(weight);
  const { rows: out, cols: n } = weight;
  if (prepared.columns !== n) {
    throw new QuantShapeError(`weight has ${n} input columns but the Hessian is for ${prepared.columns}`);
  }
  const blockSize = opts.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new QuantShapeError(`blockSize must be a positive integer, got ${blockSize}`);
  }
  const groupSize = resolveGroupSize(n, opts.groupSize ?? 128);
  let w: Float64Array = Float64Array.from(weight.data);
  for (let i = 0; i < n; i++) {
    if (prepared.dead[i]) for (let r = 0; r < out; r++) w[r * n + i] = 0;
  }
  if (prepared.perm) w = permuteColumns(w, out, n, prepared.perm);
  return {
    quant: makeQuantizer(opts),
    out,
    cols: n,
    groupSize,
    groups: groupCount(n, groupSize),
    blockSize,
    groupStats: opts.groupStats ?? 'updated',
    w,
    perm: prepared.perm,
  };
}

function permuteColumns(w: Float64Array, rows: number, n: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(w.length);
  for (let r = 0; r < rows; r++) for (let p = 0; p < n; p++) out[r * n + p] = w[r * n + perm[p]];
  return out;
}

function permuteSymmetric(h: Float64Array, n: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(h.length);
  for (let a = 0; a < n; a++) {
    const src = perm[a] * n;
    for (let b = 0; b < n; b++) out[a * n + b] = h[src + perm[b]];
  }
  return out;
}

/**
 * Package the sweep's results (codes and dequantized weights in processing order, parameters in group
 * order) in the original column order, with g_idx[c] = (position of c in the sweep) / groupSize.
 */
export function gptqFinish(
  s: GptqSetup,
  qSwept: Uint8Array,
  wSwept: Float64Array,
  scales: Float64Array,
  zeros: Uint8Array,
  loss: number,
): GptqResult {
  const { out, cols: n, perm, groupSize } = s;
  const gIdx = new Int32Array(n);
  let q = qSwept;
  let weight = wSwept;
  if (perm) {
    q = new Uint8Array(qSwept.length);
    weight = new Float64Array(wSwept.length);
    for (let r = 0; r < out; r++) {
      for (let p = 0; p < n; p++) {
        q[r * n + perm[p]] = qSwept[r * n + p];
        weight[r * n + perm[p]] = wSwept[r * n + p];
      }
    }
  }
  for (let p = 0; p < n; p++) gIdx[perm ? perm[p] : p] = Math.floor(p / groupSize);
  return {
    out,
    in: n,
    bits: s.quant.bits,
    groupSize,
    sym: s.quant.sym,
    q,
    scales,
    zeros,
    gIdx,
    weight,
    perm,
    loss,
  };
}
