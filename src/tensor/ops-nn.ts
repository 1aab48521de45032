/** Neural-network ops, several fused with hand-written backward passes (see grad-rules.ts). */
import { record } from './autograd.js';
import { getBackend, type AdamWHyper } from './backend.js';
import { DTypeError, ShapeError } from './errors.js';
import type { RopeLayout } from './op-names.js';
import { isGradEnabled, noGrad } from './scope.js';
import { contiguous } from './ops-shape.js';
import { shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

function expectDtype(what: string, t: Tensor, ...dtypes: string[]): void {
  if (!dtypes.includes(t.dtype))
    throw new DTypeError(`${what} must be ${dtypes.join(' or ')}, got ${t.dtype}`);
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  expectDtype('softmax input', x, 'f32', 'f64');
  return record('softmax', [x], {}, getBackend().softmax(x));
}

export function logSoftmax(x: Tensor): Tensor {
  expectDtype('logSoftmax input', x, 'f32', 'f64');
  return record('logSoftmax', [x], {}, getBackend().logSoftmax(x));
}

/** Rows of `weight` [V, D] picked by integer `ids` (any shape) → [...ids.shape, D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  expectDtype('embedding ids', ids, 'i32');
  if (weight.rank !== 2)
    throw new ShapeError(`embedding weight must be [V, D], got ${shapeStr(weight.shape)}`);
  return record('embedding', [weight, ids], {}, getBackend().embedding(weight, ids));
}

/** Copy of base [V, D] with src [N, D] rows added at rows ids [N] (duplicates accumulate). */
export function scatterAddRows(base: Tensor, ids: Tensor, src: Tensor): Tensor {
  expectDtype('scatterAddRows ids', ids, 'i32');
  if (base.rank !== 2 || src.rank !== 2 || src.shape[1] !== base.shape[1] || ids.size !== src.shape[0]) {
    throw new ShapeError(
      `scatterAddRows: base ${shapeStr(base.shape)}, ids ${shapeStr(ids.shape)}, src ${shapeStr(src.shape)} do not fit`,
    );
  }
  return record('scatterAddRows', [base, ids, src], {}, getBackend().scatterAddRows(base, ids, src));
}

/** y = gain ⊙ x / sqrt(mean(x², last axis) + eps). */
export function rmsNorm(x: Tensor, gain: Tensor, eps: number): Tensor {
  if (gain.rank !== 1 || gain.shape[0] !== x.shape[x.rank - 1]) {
    throw new ShapeError(
      `rmsNorm gain ${shapeStr(gain.shape)} does not match the last dim of ${shapeStr(x.shape)}`,
    );
  }
  const { y, rstd } = getBackend().rmsNorm(x, gain, eps);
  return record('rmsNorm', [x, gain], { eps }, y, [rstd]);
}

/**
 * Rotary position embedding of x [B, T, H, D] at positions posOffset..posOffset+T−1, with tables
 * cos/sin [maxPos, D/2]. 'half' pairs element i with i + D/2 (Hugging Face); 'interleaved' pairs 2i, 2i+1.
 */
export function rope(
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  posOffset: number,
  layout: RopeLayout = 'half',
): Tensor {
  if (x.rank !== 4) throw new ShapeError(`rope expects [B, T, H, D], got ${shapeStr(x.shape)}`);
  const d = x.shape[3];
  if (d % 2 || cos.shape[1] !== d / 2 || sin.shape[1] !== d / 2) {
    throw new ShapeError(`rope tables ${shapeStr(cos.shape)} do not fit head dim ${d}`);
  }
  if (posOffset + x.shape[1] > cos.shape[0]) {
    throw new ShapeError(
      `rope positions up to ${posOffset + x.shape[1]} exceed the table length ${cos.shape[0]}`,
    );
  }
  const out = getBackend().rope(x, cos, sin, posOffset, layout, false);
  return record('rope', [x, cos, sin], { posOffset, layout }, out);
}

export interface AttentionArgs {
  causal?: boolean;
  /** Absolute position of the first query (the KV-cache length); default S − T. */
  qOffset?: number;
  scale?: number;
  /** Additive mask broadcastable to [B, Hq, T, S]. */
  mask?: Tensor | null;
}

/**
 * Scaled dot-product attention with GQA: q [B, T, Hq, D], k/v [B, S, Hkv, D] → [B, T, Hq, D].
 * Query head j reads kv head ⌊j / (Hq/Hkv)⌋. Softmax statistics are kept for the backward, never P.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, args: AttentionArgs = {}): Tensor {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4)
    throw new ShapeError('attention expects rank-4 [B, T, H, D] tensors');
  const [B, T, Hq, D] = q.shape;
  const [Bk, S, Hkv, Dk] = k.shape;
  if (Bk !== B || Dk !== D || v.shape.some((n, i) => n !== k.shape[i]) || Hq % Hkv !== 0) {
    throw new ShapeError(
      `attention shapes do not fit: q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`,
    );
  }
  const opts = {
    causal: args.causal ?? true,
    qOffset: args.qOffset ?? S - T,
    scale: args.scale ?? 1 / Math.sqrt(D),
  };
  if (opts.causal && opts.qOffset + T > S)
    throw new ShapeError(`causal attention: qOffset ${opts.qOffset} + T ${T} > S ${S}`);
  if (k.dtype !== v.dtype || (k.dtype !== q.dtype && !(k.dtype === 'bf16' && q.dtype === 'f32')))
    throw new DTypeError(
      `attention needs k and v of q's dtype (or a bf16 cache): q ${q.dtype}, k ${k.dtype}, v ${v.dtype}`,
    );
  if (k.dtype !== q.dtype && isGradEnabled() && [q, k, v].some((t) => t.requiresGrad))
    throw new DTypeError('attention over a bf16 KV cache is for inference: run it under noGrad()');
  const mask = args.mask ?? null;
  const { out, lse } = getBackend().attention(q, k, v, mask, opts);
  const inputs = mask ? [q, k, v, mask] : [q, k, v];
  return record('attention', inputs, { ...opts, hasMask: mask !== null }, out, [lse]);
}

/** silu(gate) ⊙ up. */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.shape.some((n, i) => n !== up.shape[i]) || gate.rank !== up.rank) {
    throw new ShapeError(`swiglu gate ${shapeStr(gate.shape)} and up ${shapeStr(up.shape)} differ`);
  }
  return record('swiglu', [gate, up], {}, getBackend().swiglu(gate, up));
}

/**
 * Mean cross-entropy of logits [N, V] against targets i32 [N], skipping targets equal to ignoreIndex.
 * Never materialises a softmax copy: the backward writes (softmax − onehot)/count directly.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  expectDtype('crossEntropy targets', targets, 'i32');
  if (logits.rank !== 2 || targets.size !== logits.shape[0]) {
    throw new ShapeError(
      `crossEntropy: logits ${shapeStr(logits.shape)} and targets ${shapeStr(targets.shape)} do not fit`,
    );
  }
  const { loss, lse, count } = getBackend().crossEntropy(logits, targets, ignoreIndex);
  return record('crossEntropy', [logits, targets], { ignoreIndex }, loss, [lse], { count });
}

/** Rows [r·T, (r+1)·T) of a contiguous [N, …] tensor, as a view (no autograd record). */
export function rowBlock(T: number): (x: Tensor, r: number) => Tensor {
  return (x, r) => {
    if (!x.isContiguous()) throw new ShapeError('rowBlock needs a contiguous tensor');
    const inner = x.size / x.shape[0];
    return x.view([T, ...x.shape.slice(1)], x.strides, x.offset + r * T * inner);
  };
}

/**
 * Summed cross-entropy of each of `rows` equal row blocks of logits [rows·T, V] against targets [rows·T]
 * (−Σ log p over the block's non-ignored targets): [rows]. What sequence scoring (DPO) needs, without a
 * full-size gradient per row: the backward writes every block's (softmax − onehot)·dy[r] into one buffer.
 * A block with no target scores 0.
 */
export function sequenceCrossEntropy(
  logits: Tensor,
  targets: Tensor,
  rows: number,
  ignoreIndex = -100,
): Tensor {
  expectDtype('sequenceCrossEntropy targets', targets, 'i32');
  if (logits.rank !== 2 || targets.size !== logits.shape[0] || rows < 1 || logits.shape[0] % rows !== 0) {
    throw new ShapeError(
      `sequenceCrossEntropy: logits ${shapeStr(logits.shape)}, targets ${shapeStr(targets.shape)} and ${rows} rows do not fit`,
    );
  }
  if (!logits.isContiguous()) logits = contiguous(logits);
  const T = logits.shape[0] / rows;
  const b = getBackend();
  const sums = new Float64Array(rows);
  const block = rowBlock(T);
  const lses: Tensor[] = [];
  const counts: Record<string, number> = {};
  for (let r = 0; r < rows; r++) {
    const { loss, lse, count } = b.crossEntropy(block(logits, r), block(targets, r), ignoreIndex);
    sums[r] = count > 0 ? loss.item() * count : 0;
    loss.dispose();
    lses.push(lse);
    counts[`count${r}`] = count;
  }
  const out = Tensor.from(logits.dtype === 'f64' ? sums : Float32Array.from(sums), [rows], logits.dtype);
  return record('sequenceCrossEntropy', [logits, targets], { ignoreIndex, rows }, out, lses, counts);
}

/** One AdamW update of `param` in place (decoupled weight decay first, then bias-corrected Adam). */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWHyper): void {
  noGrad(() => getBackend().adamw(param, grad, m, v, hp));
}
