/**
 * The int8 KV cache ops (inference only, no autograd): quantize-on-append into a cache's code/scale
 * views, and attention over them. Layout, scale granularity and rounding: native/src/attention-kv8.h.
 */
import { getBackend } from './backend.js';
import { DTypeError, ShapeError } from './errors.js';
import type { AttentionArgs } from './ops-nn.js';
import { isGradEnabled } from './scope.js';
import { shapeStr } from './shape.js';
import type { Tensor } from './tensor.js';

function need(what: string, t: Tensor, dtype: string, rank: number): void {
  if (t.dtype !== dtype) throw new DTypeError(`${what} must be ${dtype}, got ${t.dtype}`);
  if (t.rank !== rank) throw new ShapeError(`${what} must have rank ${rank}, got ${shapeStr(t.shape)}`);
}

function noGradOnly(what: string, ts: Tensor[]): void {
  if (isGradEnabled() && ts.some((t) => t.requiresGrad))
    throw new DTypeError(`${what} over an int8 KV cache is for inference: run it under noGrad()`);
}

/** Quantizes x [B, T, H, D] (f32) into codes [B, T, H, D] (i8) and scales [B, T, H] (f32), in place. */
export function quantizeKv8Into(x: Tensor, codes: Tensor, scales: Tensor): void {
  need('quantizeKv8 input', x, 'f32', 4);
  need('quantizeKv8 codes', codes, 'i8', 4);
  need('quantizeKv8 scales', scales, 'f32', 3);
  if (codes.shape.some((n, i) => n !== x.shape[i]) || scales.shape.some((n, i) => n !== x.shape[i]))
    throw new ShapeError(
      `quantizeKv8: x ${shapeStr(x.shape)}, codes ${shapeStr(codes.shape)}, scales ${shapeStr(scales.shape)} do not fit`,
    );
  noGradOnly('quantizeKv8', [x]);
  getBackend().quantizeKv8(x, codes, scales);
}

/**
 * Scaled dot-product attention (GQA, as `attention`) of q [B, T, Hq, D] over an int8 cache: k/v codes
 * [B, S, Hkv, D] (i8) with scales ks/vs [B, S, Hkv] (f32). Equals attention over the dequantized rows.
 */
export function attentionKv8(
  q: Tensor,
  k: Tensor,
  ks: Tensor,
  v: Tensor,
  vs: Tensor,
  args: AttentionArgs = {},
): Tensor {
  need('attentionKv8 q', q, 'f32', 4);
  need('attentionKv8 keys', k, 'i8', 4);
  need('attentionKv8 values', v, 'i8', 4);
  need('attentionKv8 key scales', ks, 'f32', 3);
  need('attentionKv8 value scales', vs, 'f32', 3);
  const [B, T, Hq, D] = q.shape;
  const [Bk, S, Hkv, Dk] = k.shape;
  const same = (a: Tensor, b: Tensor): boolean => a.shape.every((n, i) => n === b.shape[i]);
  if (
    Bk !== B ||
    Dk !== D ||
    !same(v, k) ||
    !same(ks, vs) ||
    ks.shape.some((n, i) => n !== k.shape[i]) ||
    Hq % Hkv !== 0
  )
    throw new ShapeError(
      `attentionKv8 shapes do not fit: q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}, ` +
        `scales ${shapeStr(ks.shape)} / ${shapeStr(vs.shape)}`,
    );
  const opts = {
    causal: args.causal ?? true,
    qOffset: args.qOffset ?? S - T,
    scale: args.scale ?? 1 / Math.sqrt(D),
  };
  if (opts.causal && opts.qOffset + T > S)
    throw new ShapeError(`causal attention: qOffset ${opts.qOffset} + T ${T} > S ${S}`);
  noGradOnly('attention', [q]);
  return getBackend().attentionKv8(q, k, ks, v, vs, args.mask ?? null, opts).out;
}
