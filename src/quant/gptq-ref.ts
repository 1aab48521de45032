// The naive twin of gptq.ts: the same contract computed the literal way, as an executable spec.
// H⁻¹ is formed explicitly and factored again (torch's cholesky → cholesky_inverse → cholesky(upper)),
// and every column's error is spread over all later columns at once, with no blocks or lazy updates.
// O(out·in²) like the fast one, but slow in practice; tests only.

import { choleskyInPlace, invertLower } from './linalg.js';
import type { Matrix } from './matrix.js';
import { gptqFinish, gptqSetup, prepareHessian, type GptqOptions, type GptqResult } from './gptq-setup.js';
import { groupParams, quantizeValue } from './quantizer.js';

export function gptqQuantizeReference(
  weight: Matrix,
  hessian: Float64Array,
  opts: GptqOptions = {},
): GptqResult {
  const prepared = prepareHessian(hessian, weight.cols, opts);
  const s = gptqSetup(weight, prepared, opts);
  const { out, cols: n, groupSize: g, quant, w } = s;
  const u = upperFactorOfInverse(prepared.h, n);
  const q = new Uint8Array(out * n);
  const deq = new Float64Array(out * n);
  const scales = new Float64Array(s.groups * out);
  const zeros = new Uint8Array(s.groups * out);
  let snapshot = w;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    // GPTQ's code reads group statistics from the weights as they stood when the block began.
    if (s.groupStats === 'block-start' && i % s.blockSize === 0) snapshot = w.slice();
    const k = Math.floor(i / g) * out;
    if (i % g === 0) {
      const src = s.groupStats === 'block-start' ? snapshot : w;
      for (let r = 0; r < out; r++) {
        const p = groupParams(quant, src, r * n + i, r * n + Math.min(i + g, n));
        scales[k + r] = p.scale;
        zeros[k + r] = p.zero;
      }
    }
    for (let r = 0; r < out; r++) {
      const p = { scale: scales[k + r], zero: zeros[k + r] };
      const wv = w[r * n + i];
      const qv = quantizeValue(quant, wv, p);
      const dq = p.scale * (qv - p.zero);
      q[r * n + i] = qv;
      deq[r * n + i] = dq;
      const e = (wv - dq) / u[i * n + i];
      loss += (e * e) / 2;
      for (let c = i + 1; c < n; c++) w[r * n + c] -= e * u[i * n + c];
    }
  }
  return gptqFinish(s, q, deq, scales, zeros, loss);
}

/** U with H⁻¹ = UᵀU, the long way: H = LLᵀ, H⁻¹ = L⁻ᵀL⁻¹, then Cholesky of H⁻¹ transposed. */
function upperFactorOfInverse(h: Float64Array, n: number): Float64Array {
  const l = h.slice();
  choleskyInPlace(l, n);
  const li = invertLower(l, n);
  const hinv = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let sum = 0;
      for (let k = Math.max(a, b); k < n; k++) sum += li[k * n + a] * li[k * n + b];
      hinv[a * n + b] = sum;
    }
  }
  choleskyInPlace(hinv, n);
  const u = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) u[b * n + a] = hinv[a * n + b];
  return u;
}
