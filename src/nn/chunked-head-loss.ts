/**
 * Mean cross-entropy of head(h) over a large vocabulary without ever holding the [N, V] logits or their
 * gradient: rows go through the head a block at a time, and each block's gradient with respect to h is
 * taken at once (the loss is the last op, so d(loss)/d(h) is known up to the seed dy, which scales it at
 * backward). On a 122,753-word vocabulary at 512 tokens this keeps 2 × 251 MB of f32 logits and logit
 * gradients down to one 128-row block of each. Only for heads that take no gradient themselves (a frozen
 * LoRA/QLoRA base): a trained head would need its full [V, d] gradient kept across blocks.
 */
import { backward, crossEntropy, mulScalar, scope, Tensor } from '../tensor/index.js';

/** Rows per block: about 16 M logits (64 MB of f32) at a time. */
export function headBlockRows(vocab: number): number {
  return Math.max(1, Math.floor(2 ** 24 / vocab));
}

/**
 * h [N, d] (requires a gradient), targets i32 [N] (`ignoreIndex` skipped) → the mean over the kept
 * targets, a scalar whose backward hands dy · d(loss)/d(h) to h. `head` maps rows [n, d] to logits [n, V].
 */
export function chunkedHeadLoss(
  h: Tensor,
  targets: Tensor,
  head: (rows: Tensor) => Tensor,
  blockRows: number,
  ignoreIndex = -100,
): Tensor {
  const [N, d] = h.shape;
  if (h.rank !== 2 || targets.size !== N || !h.isContiguous() || !targets.isContiguous())
    throw new Error(
      `chunkedHeadLoss: h [${h.shape.join(', ')}] and targets [${targets.shape.join(', ')}] do not fit`,
    );
  const t = targets.data as Int32Array;
  let count = 0;
  for (let i = 0; i < N; i++) if (t[targets.offset + i] !== ignoreIndex) count++;
  const dh = Tensor.zeros([N, d], h.dtype);
  let sum = 0;
  for (let r0 = 0; r0 < N; r0 += blockRows) {
    const n = Math.min(blockRows, N - r0);
    let kept = 0;
    for (let i = r0; i < r0 + n; i++) if (t[targets.offset + i] !== ignoreIndex) kept++;
    if (!kept) continue;
    scope(() => {
      // a leaf standing for this block of h: the block's backward stops at it
      const rows = h.view([n, d], h.strides, h.offset + r0 * d);
      rows.requiresGrad = true;
      const tb = targets.view([n], targets.strides, targets.offset + r0);
      const loss = crossEntropy(head(rows), tb, ignoreIndex); // mean over the block's `kept` targets
      sum += loss.item() * kept;
      backward(loss, Tensor.full([], kept / count, h.dtype));
      const g = rows.grad!; // contiguous (leaf gradients are)
      (dh.data as Float32Array).set(g.data.subarray(g.offset, g.offset + n * d), r0 * d);
      g.dispose();
      rows.grad = null;
    });
  }
  const out = Tensor.full([], count ? sum / count : 0, h.dtype);
  out.requiresGrad = true;
  out.node = {
    op: 'precomputedGrad',
    inputs: [h],
    attrs: { inputGrad: (dy: Tensor) => mulScalar(dh, dy.item()) },
    saved: [dh],
  };
  return out;
}
