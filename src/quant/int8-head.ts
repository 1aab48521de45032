// --head-dtype int8: the LM head (and, when tied, the token embedding it shares) as W8 rows, symmetric per
// 32 with fp16 scales (Q8_0's arithmetic), run by the int8 kernels. MiniCPM-2B's tied 122,753 × 2,304
// table is about a third of an int4 model's decode bytes in bf16; int8 halves that. The float table is
// dropped: embedding lookups dequantize their rows from the int8 one.

import type { MiniCPM } from '../models/minicpm.js';
import { QuantShapeError } from './errors.js';
import { QuantizedLinears } from './qlinear.js';
import { qweightBytes } from './qweight.js';
import { quantizeToQWeight } from './qweight-quantize.js';

/** Replaces the model's head (and tied embedding) by int8 rows; returns the bytes they now take. */
export function useInt8Head(model: MiniCPM): number {
  const c = model.config;
  const name = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const head = model.p(name);
  if ((head.dtype !== 'f32' && head.dtype !== 'bf16') || !head.isContiguous()) {
    throw new QuantShapeError(
      `${name} must be a contiguous f32 or bf16 matrix for --head-dtype int8, got ${head.dtype}`,
    );
  }
  if (c.hiddenSize % 32 !== 0) {
    throw new QuantShapeError(
      `--head-dtype int8 needs a hidden size that is a multiple of 32, got ${c.hiddenSize}`,
    );
  }
  let runner = model.linearRunner;
  if (runner === null)
    runner = model.linearRunner = new QuantizedLinears(new Map(), (m) => model.p(`${m}.weight`));
  if (!(runner instanceof QuantizedLinears)) {
    throw new QuantShapeError(
      'the model already runs its linears through another runner; cannot add an int8 head',
    );
  }
  const [V, d] = head.shape;
  const data = head.data.subarray(head.offset, head.offset + V * d) as Float32Array | Uint16Array;
  const w = quantizeToQWeight(data, V, d, 8, head.dtype === 'bf16', 'lm_head');
  runner.weights.set('lm_head', w);
  if (c.tieWordEmbeddings) runner.embedding = w;
  model.params.delete(name);
  head.dispose();
  return qweightBytes(w);
}

/** The `--head-dtype` flag: 'float' keeps the checkpoint's head, 'int8' calls useInt8Head. */
export function applyHeadDtype(model: MiniCPM, value: string): void {
  if (value === 'int8') useInt8Head(model);
  else if (value !== 'float') throw new QuantShapeError(`--head-dtype must be float or int8, got ${value}`);
}
