/**
 * The quantized matmul (kernels-quant.ts: W2/W4/W8 weights × int8-quantized activations) over the wasm
 * module, with the N-API addon's argument checks. Weights made by allocQWeight live in the module's
 * memory under the wasm backend's allocator, so decode streams them in place; other arrays are staged
 * per call like any operand.
 *
 * Precision: the SIMD128 tiles (native/wasm/qmatmul-simd128.c) compute what the TypeScript twin does,
 * bit for bit; the portable path (setIsa('scalar')) fuses the block multiply-add like the native C.
 */
import { QMATMUL_MAX_WEIGHTS, type QuantKernels } from '../kernels-quant.js';
import { intArgs, WasmGemmKernels, type Operand } from './wasm-gemm-kernels.js';

const QBLOCK = 32;
/** The operand that stands for a missing perm (one shared array, not one per call). */
const NO_PERM = new Int32Array(0);
const QTILE = 16;

function checkPerm(fn: string, perm: Int32Array | null, K: number): void {
  if (!perm) return;
  if (perm.length !== K) throw new RangeError(`${fn}: perm has ${perm.length} entries, expected K = ${K}`);
  for (let j = 0; j < K; j++)
    if (!(perm[j] >= 0 && perm[j] < K))
      throw new RangeError(`${fn}: perm[${j}] = ${perm[j]} is outside [0, ${K})`);
}

/** Elements of x a call reads from xOff: M rows of K, ldx apart. */
function xSpan(fn: string, M: number, K: number, ldx: number): number {
  if (M > 1 && ldx < K) throw new RangeError(`${fn}: ldx = ${ldx} is smaller than K = ${K}`);
  return M === 0 || K === 0 ? 0 : (M - 1) * ldx + K;
}

export class WasmQuantKernels extends WasmGemmKernels implements QuantKernels {
  qquantize(
    M: number,
    K: number,
    x: Float32Array,
    xOff: number,
    ldx: number,
    perm: Int32Array | null,
    xq: Int8Array,
    xd: Float32Array,
    xs: Int32Array,
  ): void {
    intArgs('qquantize', { M, K, xOff, ldx });
    if (K % QBLOCK) throw new RangeError(`qquantize: K = ${K} is not a multiple of 32`);
    checkPerm('qquantize', perm, K);
    const ops: Operand[] = [
      [x, xOff, xSpan('qquantize', M, K, ldx), false],
      [perm ?? NO_PERM, 0, perm ? K : 0, false],
      [xq, 0, M * K, true],
      [xd, 0, (M * K) / QBLOCK, true],
      [xs, 0, (M * K) / QBLOCK, true],
    ];
    this.call('qquantize', ops, (p) =>
      this.rt.fn('mc_qquantize')(M, K, p[0], ldx, perm ? p[1] : 0, p[2], p[3], p[4]),
    );
  }

  qmatmul(
    M: number,
    K: number,
    bits: number,
    x: Float32Array,
    xOff: number,
    ldx: number,
    perm: Int32Array | null,
    codes: Uint8Array[],
    scales: Uint16Array[],
    zeros: Uint8Array[],
    ns: number[],
    y: Float32Array,
    yOff: number,
    ldy: number,
    sym = 0,
  ): void {
    intArgs('qmatmul', { M, K, xOff, ldx, yOff, ldy, sym });
    if (bits !== 2 && bits !== 4 && bits !== 8)
      throw new RangeError(`qmatmul: bits must be 2, 4 or 8, got ${bits}`);
    if (K === 0 || K % QBLOCK) throw new RangeError(`qmatmul: K = ${K} is not a positive multiple of 32`);
    const count = ns.length;
    if (
      count < 1 ||
      count > QMATMUL_MAX_WEIGHTS ||
      codes.length !== count ||
      scales.length !== count ||
      zeros.length !== count
    )
      throw new RangeError(
        `qmatmul: codes, scales, zeros and ns need the same length in [1, ${QMATMUL_MAX_WEIGHTS}]`,
      );
    checkPerm('qmatmul', perm, K);
    const B = K / QBLOCK;
    let total = 0;
    for (const n of ns) total += n;
    const ops: Operand[] = [
      [x, xOff, xSpan('qmatmul', M, K, ldx), false],
      [perm ?? NO_PERM, 0, perm ? K : 0, false],
      [y, yOff, M === 0 || total === 0 ? 0 : (M - 1) * ldy + total, true],
    ];
    for (let i = 0; i < count; i++) {
      if (!Number.isSafeInteger(ns[i]) || ns[i] < 0)
        throw new RangeError(`qmatmul: ns[${i}] must be a non-negative integer, got ${ns[i]}`);
      const tiles = Math.ceil(ns[i] / QTILE);
      const cb = tiles * B * 64 * bits,
        pb = tiles * B * QTILE;
      if (codes[i].length < cb || scales[i].length < pb || zeros[i].length < pb)
        throw new RangeError(
          `qmatmul: weight ${i} is too small for ${ns[i]} rows × ${K} columns at ${bits} bits`,
        );
      ops.push([codes[i], 0, cb, false], [scales[i], 0, pb, false], [zeros[i], 0, pb, false]);
    }
    if (M > 1 && ldy < total)
      throw new RangeError(`qmatmul: ldy = ${ldy} is smaller than the ${total} outputs`);
    this.call('qmatmul', ops, (p) => {
      // pointer tables in the scratch block: codes, scales, zeros, then the row counts (8 slots each)
      const t = this.scratchI32();
      for (let i = 0; i < count; i++) {
        t[i] = p[3 + 3 * i];
        t[8 + i] = p[4 + 3 * i];
        t[16 + i] = p[5 + 3 * i];
        t[24 + i] = ns[i];
      }
      const s = this.scratch;
      this.rt.fn('mc_qmatmul')(
        M,
        K,
        bits,
        p[0],
        ldx,
        perm ? p[1] : 0,
        count,
        s,
        s + 32,
        s + 64,
        sym,
        s + 96,
        p[2],
        ldy,
      );
    });
  }
}
