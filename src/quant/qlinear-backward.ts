// The input gradient of a frozen quantized linear, dx = dy · W, for QLoRA on an int4/int8 base. W is
// widened 64 rows at a time from its codes into a small f32 panel (dequantizeRow), each panel one GEMM
// accumulated into dx: no f32 copy of the whole matrix is ever made.

import { add, matmul, slice, Tensor } from '../tensor/index.js';
import type { QWeight } from './qweight.js';
import { dequantizeRow } from './qweight-quantize.js';

const PANEL = 64;

/** dy [.., out] · W [out, in] → [.., in] for a quantized W (runs under noGrad, as gradient rules do). */
export function qlinearInputGrad(dy: Tensor, w: QWeight): Tensor {
  const panel = Tensor.empty([Math.min(PANEL, w.out), w.in]);
  const pf = panel.data as Float32Array;
  let dx: Tensor | null = null;
  for (let o0 = 0; o0 < w.out; o0 += PANEL) {
    const p = Math.min(PANEL, w.out - o0);
    for (let r = 0; r < p; r++) dequantizeRow(w, o0 + r, pf, panel.offset + r * w.in);
    const rows = p === panel.shape[0] ? panel : slice(panel, 0, 0, p);
    const part = matmul(slice(dy, dy.rank - 1, o0, o0 + p), rows); // (.., in)
    if (!dx) dx = part;
    else {
      const sum = add(dx, part);
      dx.dispose();
      part.dispose();
      dx = sum;
    }
  }
  panel.dispose();
  return dx ?? Tensor.zeros([...dy.shape.slice(0, -1), w.in]);
}
