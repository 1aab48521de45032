// Round-to-nearest: every group quantized on its own with the min–max quantizer, no error feedback.
// The baseline GPTQ must beat, and the limit GPTQ reaches when the calibration Hessian is diagonal.

import type { Matrix } from './matrix.js';
import { checkWeight, groupCount, resolveGroupSize, type QuantizedLinear } from './quantized.js';
import { groupParams, makeQuantizer, quantizeValue, type QuantizerOptions } from './quantizer.js';

export interface RtnOptions extends QuantizerOptions {
  /** Input columns per group; −1 for one group per row. Default 128. */
  groupSize?: number;
}

/** Quantize a weight [out, in] group by group along each row. */
export function rtnQuantize(w: Matrix, opts: RtnOptions = {}): QuantizedLinear {
  checkWeight(w);
  const quant = makeQuantizer(opts);
  const { rows: out, cols } = w;
  const g = resolveGroupSize(cols, opts.groupSize ?? 128);
  const groups = groupCount(cols, g);
  const q = new Uint8Array(out * cols);
  const weight = new Float64Array(out * cols);
  const scales = new Float64Array(groups * out);
  const zeros = new Uint8Array(groups * out);
  for (let r = 0; r < out; r++) {
    for (let k = 0; k < groups; k++) {
      const from = r * cols + k * g;
      const to = r * cols + Math.min((k + 1) * g, cols);
      const p = groupParams(quant, w.data, from, to);
      scales[k * out + r] = p.scale;
      zeros[k * out + r] = p.zero;
      for (let i = from; i < to; i++) {
        q[i] = quantizeValue(quant, w.data[i], p);
        weight[i] = p.scale * (q[i] - p.zero);
      }
    }
  }
  const gIdx = new Int32Array(cols);
  for (let c = 0; c < cols; c++) gIdx[c] = Math.floor(c / g);
  return { out, in: cols, bits: quant.bits, groupSize: g, sym: quant.sym, q, scales, zeros, gIdx, weight };
}
