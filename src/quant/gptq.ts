// GPTQ (Frantar et al., 2022) for one linear layer W [out, in] with Hessian H = (2/n)·XᵀX: quantize the
// input columns left to right; after each column, spread its rounding error (w − q)/U[i,i] over the
// columns still to come along row i of U, the upper Cholesky factor of H⁻¹, so they compensate for it.
// Updates inside a block of `blockSize` columns are applied at once; the rest of the row receives the
// block's errors in one rank-`blockSize` update (the paper's "lazy batch"), which is where the time goes.

import { upperCholeskyOfInverse } from './linalg.js';
import type { Matrix } from './matrix.js';
import { QuantShapeError } from './errors.js';
import {
  gptqFinish,
  gptqSetup,
  prepareHessian,
  type GptqOptions,
  type GptqResult,
  type GptqSetup,
  type PreparedHessian,
} from './gptq-setup.js';
import { paramsFromRange, roundHalfEven } from './quantizer.js';

export type { GptqOptions, GptqResult } from './gptq-setup.js';

/**
 * H prepared and factored once: layers that read the same input (q/k/v, gate/up) share H, and the
 * factorization is a third of GPTQ's work, so quantize them all from one factor.
 */
export interface GptqFactor extends PreparedHessian {
  /** Upper Cholesky factor of the prepared H's inverse, in processing order. */
  readonly u: Float64Array;
}

export function factorHessian(
  hessian: Float64Array,
  columns: number,
  opts: Pick<GptqOptions, 'damp' | 'actOrder'> = {},
): GptqFactor {
  const p = prepareHessian(hessian, columns, opts);
  return { ...p, u: upperCholeskyOfInverse(p.h, columns) };
}

function isFactor(h: Float64Array | GptqFactor): h is GptqFactor {
  return !(h instanceof Float64Array);
}

/** Columns of the lazy update handled per pass, so U's block rows stay in cache across weight rows. */
const TILE = 512;

/**
 * Quantize weight [out, in] given the layer's Hessian [in, in] (see HessianAccumulator) or a factor of
 * it from factorHessian (whose damp and act-order then apply; options that contradict them are errors).
 */
export function gptqQuantize(
  weight: Matrix,
  hessian: Float64Array | GptqFactor,
  opts: GptqOptions = {},
): GptqResult {
  let f: GptqFactor;
  if (isFactor(hessian)) {
    f = hessian;
    if ((opts.damp !== undefined && opts.damp !== f.damp) || (opts.actOrder ?? f.actOrder) !== f.actOrder) {
      throw new QuantShapeError(
        `options (damp ${opts.damp}, actOrder ${opts.actOrder}) contradict the factor's ` +
          `(damp ${f.damp}, actOrder ${f.actOrder}); factor the Hessian with the options you quantize with`,
      );
    }
  } else {
    f = factorHessian(hessian, weight.cols, opts);
  }
  const s = gptqSetup(weight, f, opts);
  const { out, cols: n, groupSize: g, blockSize: B, quant, w } = s;
  const u = f.u;
  const q = new Uint8Array(out * n);
  const deq = new Float64Array(out * n);
  const scales = new Float64Array(s.groups * out);
  const zeros = new Uint8Array(s.groups * out);
  const err = new Float64Array(out * B); // this block's scaled errors, [out, B]
  const snapshot = s.groupStats === 'block-start' ? new Float64Array(B) : null;
  const maxq = quant.maxq;
  let loss = 0;

  for (let i1 = 0; i1 < n; i1 += B) {
    const i2 = Math.min(i1 + B, n);
    // Rows are independent given U (each row's error stays in that row), so the in-block sweep runs row
    // by row over contiguous memory; only the lazy update needs all rows of the block at once.
    for (let r = 0; r < out; r++) {
      const rw = r * n;
      const re = r * B - i1;
      if (snapshot) snapshot.set(w.subarray(rw + i1, rw + i2));
      let sc = 0;
      let z = 0;
      for (let i = i1; i < i2; i++) {
        if (i % g === 0) {
          const k = (i / g) * out + r;
          const p = paramsFromRange(quant, ...groupRange(s, u, err, snapshot, r, i, i1, i2));
          scales[k] = sc = p.scale;
          zeros[k] = z = p.zero;
        } else if (i === i1) {
          const k = Math.floor(i / g) * out + r;
          sc = scales[k];
          z = zeros[k];
        }
        const ui = i * n;
        const wv = w[rw + i];
        let qv = roundHalfEven(wv / sc) + z;
        qv = qv < 0 ? 0 : qv > maxq ? maxq : qv;
        const dq = sc * (qv - z);
        q[rw + i] = qv;
        deq[rw + i] = dq;
        const e = (wv - dq) / u[ui + i];
        loss += (e * e) / 2;
        err[re + i] = e;
        if (e !== 0) for (let c = i + 1; c < i2; c++) w[rw + c] -= e * u[ui + c];
      }
    }
    if (i2 < n) lazyUpdate(w, u, err, out, n, B, i1, i2);
  }
  return gptqFinish(s, q, deq, scales, zeros, loss);
}

/**
 * [min, max] of row r's group starting at column i (inside block [i1, i2)), whose earlier columns of the
 * block are done. Columns past the block have not yet received this block's errors: under 'updated' they
 * are added here; under 'block-start' the values as of the block's start are used, as GPTQ's code does.
 */
function groupRange(
  s: GptqSetup,
  u: Float64Array,
  err: Float64Array,
  snapshot: Float64Array | null,
  r: number,
  i: number,
  i1: number,
  i2: number,
): [number, number] {
  const { cols: n, groupSize: g, blockSize: B, w } = s;
  const end = Math.min(i + g, n);
  const rw = r * n;
  const re = r * B - i1;
  let min = Infinity;
  let max = -Infinity;
  for (let c = i; c < Math.min(end, i2); c++) {
    const v = snapshot ? snapshot[c - i1] : w[rw + c];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  for (let c = i2; c < end; c++) {
    let v = w[rw + c];
    if (!snapshot) for (let j = i1; j < i; j++) v -= err[re + j] * u[j * n + c];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/**
 * W[:, i2:] −= Err · U[i1:i2, i2:]: two weight rows against four rows of U per pass, so each load of U
 * feeds two rows (about 1.6× the speed of one row at a time), in column tiles that stay in cache.
 */
function lazyUpdate(
  w: Float64Array,
  u: Float64Array,
  err: Float64Array,
  out: number,
  n: number,
  B: number,
  i1: number,
  i2: number,
): void {
  const nb = i2 - i1;
  for (let c0 = i2; c0 < n; c0 += TILE) {
    const c1 = Math.min(c0 + TILE, n);
    let r = 0;
    for (; r + 2 <= out; r += 2) {
      const ra = r * n;
      const rb = ra + n;
      const ea = r * B;
      const eb = ea + B;
      let j = 0;
      for (; j + 4 <= nb; j += 4) {
        const a0 = err[ea + j];
        const a1 = err[ea + j + 1];
        const a2 = err[ea + j + 2];
        const a3 = err[ea + j + 3];
        const b0 = err[eb + j];
        const b1 = err[eb + j + 1];
        const b2 = err[eb + j + 2];
        const b3 = err[eb + j + 3];
        const u0 = (i1 + j) * n;
        const u1 = u0 + n;
        const u2 = u1 + n;
        const u3 = u2 + n;
        for (let c = c0; c < c1; c++) {
          const v0 = u[u0 + c];
          const v1 = u[u1 + c];
          const v2 = u[u2 + c];
          const v3 = u[u3 + c];
          w[ra + c] -= a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
          w[rb + c] -= b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3;
        }
      }
      for (; j < nb; j++) {
        const a = err[ea + j];
        const b = err[eb + j];
        const uj = (i1 + j) * n;
        for (let c = c0; c < c1; c++) {
          w[ra + c] -= a * u[uj + c];
          w[rb + c] -= b * u[uj + c];
        }
      }
    }
    if (r < out) {
      for (let j = 0; j < nb; j++) {
        const a = err[r * B + j];
        const uj = (i1 + j) * n;
        for (let c = c0; c < c1; c++) w[r * n + c] -= a * u[uj + c];
      }
    }
  }
}
