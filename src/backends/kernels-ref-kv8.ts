/**
 * The TypeScript twin of the int8 KV cache kernels (kernels-kv8.ts, native/src/attention-kv8.c): the
 * same quantization bit for bit (f32 rounding via Math.fround), and attention written the naive way —
 * dequantize every visible row, then scores, softmax and the weighted sum in float64.
 */
import type { Kv8Kernels } from './kernels-kv8.js';

const f = Math.fround;

/** Round half away from zero: t − trunc(t) is exact, so the tie test is too. */
function roundHalfAway(t: number): number {
  const r = Math.trunc(t);
  const frac = t - r;
  return r + (frac >= 0.5 ? 1 : 0) - (frac <= -0.5 ? 1 : 0);
}

/** One row's scale and codes (see kernels-kv8.ts). */
export function quantizeKv8Row(x: Float32Array, xo: number, D: number, codes: Int8Array, co: number): number {
  let amax = 0;
  let bad = false;
  for (let i = 0; i < D; i++) {
    const a = Math.abs(x[xo + i]);
    if (!Number.isFinite(a)) bad = true;
    else if (a > amax) amax = a;
  }
  if (bad || amax === 0) {
    codes.fill(0, co, co + D);
    return bad ? NaN : 0;
  }
  const d = f(amax / 127);
  const inv = f(1 / d);
  for (let i = 0; i < D; i++) {
    const c = roundHalfAway(f(x[xo + i] * inv));
    codes[co + i] = c > 127 ? 127 : c < -127 ? -127 : c;
  }
  return d;
}

export const refKv8Kernels: Kv8Kernels = {
  kv8Quantize(x, xo, rows, D, codes, co, scales, so) {
    for (let r = 0; r < rows; r++) scales[so + r] = quantizeKv8Row(x, xo + r * D, D, codes, co + r * D);
  },

  attentionFwdKv8(
    q,
    qo,
    k,
    ko,
    ks,
    kso,
    v,
    vo,
    vs,
    vso,
    cap,
    out,
    oo,
    lse,
    lo,
    B,
    T,
    S,
    Hq,
    Hkv,
    D,
    qOffset,
    causal,
    scale,
  ) {
    const group = Hq / Hkv;
    const kf = new Float64Array(S * Hkv * D);
    const vf = new Float64Array(S * Hkv * D);
    const sc = new Float64Array(S);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++)
        for (let h = 0; h < Hkv; h++) {
          const row = (b * cap + s) * Hkv + h;
          for (let i = 0; i < D; i++) {
            kf[(s * Hkv + h) * D + i] = f(ks[kso + row] * k[ko + row * D + i]);
            vf[(s * Hkv + h) * D + i] = f(vs[vso + row] * v[vo + row * D + i]);
          }
        }
      for (let t = 0; t < T; t++)
        for (let h = 0; h < Hq; h++) {
          const hk = Math.floor(h / group);
          const qb = qo + ((b * T + t) * Hq + h) * D;
          const n = causal ? Math.min(S, qOffset + t + 1) : S;
          let m = -Infinity;
          for (let s = 0; s < n; s++) {
            let dot = 0;
            for (let i = 0; i < D; i++) dot += q[qb + i] * kf[(s * Hkv + hk) * D + i];
            sc[s] = dot * scale;
            if (sc[s] > m) m = sc[s];
          }
          let sum = 0;
          for (let s = 0; s < n; s++) sum += sc[s] = Math.exp(sc[s] - m);
          lse[lo + (b * Hq + h) * T + t] = m + Math.log(sum);
          const ob = oo + ((b * T + t) * Hq + h) * D;
          for (let i = 0; i < D; i++) {
            let acc = 0;
            for (let s = 0; s < n; s++) acc += sc[s] * vf[(s * Hkv + hk) * D + i];
            out[ob + i] = n > 0 ? acc / sum : 0;
          }
        }
    }
  },
};
