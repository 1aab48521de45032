/**
 * The int8 KV cache kernels (kernels-kv8.ts, native/src/attention-kv8.c) over the wasm module, with the
 * N-API addon's argument checks. The cache's codes and scales live in the module's memory under the
 * wasm backend's allocator, so decode reads them in place. Same C as the native portable path: the
 * quantization is bit-identical to the TypeScript twin, attention within f32 accumulation error.
 */
import type { Kv8Kernels } from '../kernels-kv8.js';
import { intArgs, type Operand } from './wasm-gemm-kernels.js';
import { WasmQuantKernels } from './wasm-quant-kernels.js';

export class WasmKv8Kernels extends WasmQuantKernels implements Kv8Kernels {
  /** Whether this module was built with the int8 KV cache kernels (an older .wasm lacks them). */
  kv8Available(): boolean {
    try {
      this.rt.fn('mc_attention_fwd_kv8');
      return true;
    } catch {
      return false;
    }
  }

  kv8Quantize(
    x: Float32Array,
    xo: number,
    rows: number,
    D: number,
    codes: Int8Array,
    co: number,
    scales: Float32Array,
    so: number,
  ): void {
    intArgs('kv8Quantize', { rows, D });
    const ops: Operand[] = [
      [x, xo, rows * D, false],
      [codes, co, rows * D, true],
      [scales, so, rows, true],
    ];
    this.call('kv8Quantize', ops, (p) => this.rt.fn('mc_kv8_quantize')(p[0], rows, D, p[1], p[2]));
  }

  attentionFwdKv8(
    q: Float32Array,
    qo: number,
    k: Int8Array,
    ko: number,
    ks: Float32Array,
    kso: number,
    v: Int8Array,
    vo: number,
    vs: Float32Array,
    vso: number,
    cap: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    B: number,
    T: number,
    S: number,
    Hq: number,
    Hkv: number,
    D: number,
    qOffset: number,
    causal: number,
    scale: number,
  ): void {
    const fn = 'attentionFwdKv8';
    intArgs(fn, { cap, B, T, S, Hq, Hkv, D, qOffset });
    if (Hkv < 1 || Hq < Hkv || Hq % Hkv)
      throw new RangeError(`${fn}: Hq ${Hq} must be a positive multiple of Hkv ${Hkv}`);
    if (cap < S) throw new RangeError(`${fn}: cap ${cap} is smaller than S ${S}`);
    if (causal && qOffset + T > S)
      throw new RangeError(`${fn}: causal attention needs qOffset + T <= S (${qOffset} + ${T} > ${S})`);
    const rowsKv = B > 0 && S > 0 ? (B - 1) * cap + S : 0;
    const nq = B * T * Hq * D;
    const ops: Operand[] = [
      [q, qo, nq, false],
      [k, ko, rowsKv * Hkv * D, false],
      [ks, kso, rowsKv * Hkv, false],
      [v, vo, rowsKv * Hkv * D, false],
      [vs, vso, rowsKv * Hkv, false],
      [out, oo, nq, true],
      [lse, lo, B * Hq * T, true],
    ];
    this.call(fn, ops, (p) =>
      this.rt.fn('mc_attention_fwd_kv8')(
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        cap,
        p[5],
        p[6],
        B,
        T,
        S,
        Hq,
        Hkv,
        D,
        qOffset,
        causal ? 1 : 0,
        scale,
      ),
    );
  }
}
