/**
 * The NN kernels (nn.h: norms, softmax, cross-entropy, SwiGLU, RoPE, AdamW, maps, reductions,
 * attention) over the wasm module, with the N-API addon's argument checks; WasmKernels is the whole
 * kernel set the wasm backend uses.
 */
import type { NnKernels } from '../kernels.js';
import { intArgs, type Operand } from './wasm-gemm-kernels.js';
import { WasmKv8Kernels } from './wasm-kv8-kernels.js';

export type { WasmFeatures, WasmIsa } from './wasm-gemm-kernels.js';

export class WasmKernels extends WasmKv8Kernels implements NnKernels {
  rmsnormFwd(
    x: Float32Array,
    xo: number,
    g: Float32Array,
    go: number,
    y: Float32Array,
    yo: number,
    rstd: Float32Array,
    ro: number,
    rows: number,
    D: number,
    eps: number,
  ): void {
    intArgs('rmsnormFwd', { rows, D });
    const n = rows * D;
    this.call(
      'rmsnormFwd',
      [
        [x, xo, n, false],
        [g, go, D, false],
        [y, yo, n, true],
        [rstd, ro, rows, true],
      ],
      (p) => this.rt.fn('mc_rmsnorm_fwd')(p[0], p[1], p[2], p[3], rows, D, eps),
    );
  }

  rmsnormBwd(
    x: Float32Array,
    xo: number,
    g: Float32Array,
    go: number,
    rstd: Float32Array,
    ro: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    dg: Float32Array,
    dgo: number,
    rows: number,
    D: number,
  ): void {
    intArgs('rmsnormBwd', { rows, D });
    const n = rows * D;
    const ops: Operand[] = [
      [x, xo, n, false],
      [g, go, D, false],
      [rstd, ro, rows, false],
      [dy, dyo, n, false],
      [dx, dxo, n, true],
      [dg, dgo, D, true],
    ];
    this.call('rmsnormBwd', ops, (p) =>
      this.rt.fn('mc_rmsnorm_bwd')(p[0], p[1], p[2], p[3], p[4], p[5], rows, D),
    );
  }

  softmaxFwd(
    x: Float32Array,
    xo: number,
    y: Float32Array,
    yo: number,
    rows: number,
    V: number,
    log: number,
  ): void {
    intArgs('softmaxFwd', { rows, V });
    this.call(
      'softmaxFwd',
      [
        [x, xo, rows * V, false],
        [y, yo, rows * V, true],
      ],
      (p) => this.rt.fn('mc_softmax_fwd')(p[0], p[1], rows, V, log ? 1 : 0),
    );
  }

  softmaxBwd(
    y: Float32Array,
    yo: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    rows: number,
    V: number,
    log: number,
  ): void {
    intArgs('softmaxBwd', { rows, V });
    const n = rows * V;
    this.call(
      'softmaxBwd',
      [
        [y, yo, n, false],
        [dy, dyo, n, false],
        [dx, dxo, n, true],
      ],
      (p) => this.rt.fn('mc_softmax_bwd')(p[0], p[1], p[2], rows, V, log ? 1 : 0),
    );
  }

  ceFwd(
    logits: Float32Array,
    lo: number,
    targets: Int32Array,
    to: number,
    lse: Float32Array,
    lseo: number,
    rows: number,
    V: number,
    ignore: number,
  ): [number, number, number] {
    intArgs('ceFwd', { rows, V });
    return this.call(
      'ceFwd',
      [
        [logits, lo, rows * V, false],
        [targets, to, rows, false],
        [lse, lseo, rows, true],
      ],
      (p) => {
        const bad = this.rt.fn('mc_ce_fwd')(p[0], p[1], p[2], rows, V, ignore, this.scratch);
        const out = new Float64Array(this.rt.buffer(), this.scratch, 2);
        return [out[0], out[1], bad] as [number, number, number];
      },
    );
  }

  ceBwd(
    logits: Float32Array,
    lo: number,
    targets: Int32Array,
    to: number,
    lse: Float32Array,
    lseo: number,
    dl: Float32Array,
    dlo: number,
    rows: number,
    V: number,
    scale: number,
    ignore: number,
  ): void {
    intArgs('ceBwd', { rows, V });
    for (let r = 0; r < rows; r++) {
      const t = targets[to + r];
      if (t !== ignore && (t < 0 || t >= V))
        throw new RangeError(`ceBwd: target at row ${r} is ${t}, outside the vocabulary of ${V}`);
    }
    const n = rows * V;
    const ops: Operand[] = [
      [logits, lo, n, false],
      [targets, to, rows, false],
      [lse, lseo, rows, false],
      [dl, dlo, n, true],
    ];
    this.call('ceBwd', ops, (p) => this.rt.fn('mc_ce_bwd')(p[0], p[1], p[2], p[3], rows, V, scale, ignore));
  }

  swigluFwd(
    g: Float32Array,
    go: number,
    u: Float32Array,
    uo: number,
    y: Float32Array,
    yo: number,
    n: number,
  ): void {
    intArgs('swigluFwd', { n });
    this.call(
      'swigluFwd',
      [
        [g, go, n, false],
        [u, uo, n, false],
        [y, yo, n, true],
      ],
      (p) => this.rt.fn('mc_swiglu_fwd')(p[0], p[1], p[2], n),
    );
  }

  swigluBwd(
    g: Float32Array,
    go: number,
    u: Float32Array,
    uo: number,
    dy: Float32Array,
    dyo: number,
    dg: Float32Array,
    dgo: number,
    du: Float32Array,
    duo: number,
    n: number,
  ): void {
    intArgs('swigluBwd', { n });
    const ops: Operand[] = [
      [g, go, n, false],
      [u, uo, n, false],
      [dy, dyo, n, false],
      [dg, dgo, n, true],
      [du, duo, n, true],
    ];
    this.call('swigluBwd', ops, (p) => this.rt.fn('mc_swiglu_bwd')(p[0], p[1], p[2], p[3], p[4], n));
  }

  rope(
    x: Float32Array,
    xo: number,
    cos: Float32Array,
    co: number,
    sin: Float32Array,
    so: number,
    y: Float32Array,
    yo: number,
    B: number,
    T: number,
    H: number,
    D: number,
    pos0: number,
    interleaved: number,
    inverse: number,
  ): void {
    intArgs('rope', { B, T, H, D, pos0 });
    if (D % 2) throw new RangeError(`rope: the head dim ${D} must be even`);
    const n = B * T * H * D,
      table = ((pos0 + T) * D) / 2;
    const ops: Operand[] = [
      [x, xo, n, false],
      [cos, co, table, false],
      [sin, so, table, false],
      [y, yo, n, true],
    ];
    this.call('rope', ops, (p) =>
      this.rt.fn('mc_rope')(p[0], p[1], p[2], p[3], B, T, H, D, pos0, interleaved ? 1 : 0, inverse ? 1 : 0),
    );
  }

  adamw(
    p: Float32Array,
    po: number,
    g: Float32Array,
    go: number,
    m: Float32Array,
    mo: number,
    v: Float32Array,
    vo: number,
    n: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    wd: number,
    bc1: number,
    bc2: number,
  ): void {
    intArgs('adamw', { n });
    const ops: Operand[] = [
      [p, po, n, true],
      [g, go, n, false],
      [m, mo, n, true],
      [v, vo, n, true],
    ];
    this.call('adamw', ops, (q) =>
      this.rt.fn('mc_adamw')(q[0], q[1], q[2], q[3], n, lr, b1, b2, eps, wd, bc1, bc2),
    );
  }

  unary(op: number, x: Float32Array, xo: number, y: Float32Array, yo: number, n: number): void {
    intArgs('unary', { op, n });
    if (op > 11) throw new RangeError(`unary: unknown op ${op}`);
    this.call(
      'unary',
      [
        [x, xo, n, false],
        [y, yo, n, true],
      ],
      (p) => this.rt.fn('mc_unary')(op, p[0], p[1], n),
    );
  }

  unaryGrad(
    op: number,
    x: Float32Array,
    xo: number,
    y: Float32Array,
    yo: number,
    dy: Float32Array,
    dyo: number,
    dx: Float32Array,
    dxo: number,
    n: number,
  ): void {
    intArgs('unaryGrad', { op, n });
    if (op > 11) throw new RangeError(`unaryGrad: unknown op ${op}`);
    const ops: Operand[] = [
      [x, xo, n, false],
      [y, yo, n, false],
      [dy, dyo, n, false],
      [dx, dxo, n, true],
    ];
    this.call('unaryGrad', ops, (p) => this.rt.fn('mc_unary_grad')(op, p[0], p[1], p[2], p[3], n));
  }

  binary(
    op: number,
    a: Float32Array,
    ao: number,
    b: Float32Array,
    bo: number,
    out: Float32Array,
    oo: number,
    n: number,
    period: number,
  ): void {
    intArgs('binary', { op, n, period });
    if (op > 5) throw new RangeError(`binary: unknown op ${op}`);
    if (period < 1 || n % period) throw new RangeError(`binary: period ${period} must divide n = ${n}`);
    this.call(
      'binary',
      [
        [a, ao, n, false],
        [b, bo, period, false],
        [out, oo, n, true],
      ],
      (p) => this.rt.fn('mc_binary')(op, p[0], p[1], p[2], n, period),
    );
  }

  affine(x: Float32Array, xo: number, y: Float32Array, yo: number, n: number, s: number, t: number): void {
    intArgs('affine', { n });
    this.call(
      'affine',
      [
        [x, xo, n, false],
        [y, yo, n, true],
      ],
      (p) => this.rt.fn('mc_affine')(p[0], p[1], n, s, t),
    );
  }

  reduce(
    op: number,
    src: Float32Array,
    so: number,
    dst: Float32Array,
    dO: number,
    outer: number,
    r: number,
    inner: number,
  ): void {
    intArgs('reduce', { op, outer, r, inner });
    if (op > 1) throw new RangeError(`reduce: unknown op ${op}`);
    this.call(
      'reduce',
      [
        [src, so, outer * r * inner, false],
        [dst, dO, outer * inner, true],
      ],
      (p) => this.rt.fn('mc_reduce')(op, p[0], p[1], outer, r, inner),
    );
  }

  /** q/out and k/v element counts after the native addon's dimension checks. */
  private attnDims(
    fn: string,
    B: number,
    T: number,
    S: number,
    Hq: number,
    Hkv: number,
    D: number,
    qOffset: number,
    causal: number,
  ) {
    intArgs(fn, { B, T, S, Hq, Hkv, D, qOffset });
    if (Hkv < 1 || Hq < Hkv || Hq % Hkv)
      throw new RangeError(`${fn}: Hq ${Hq} must be a multiple of Hkv ${Hkv}`);
    if (causal && qOffset + T > S)
      throw new RangeError(`${fn}: causal attention needs qoff + T <= S (${qOffset} + ${T} > ${S})`);
    return { nq: B * T * Hq * D, nkv: B * S * Hkv * D, nl: B * Hq * T };
  }

  attentionFwd(
    q: Float32Array,
    qo: number,
    k: Float32Array,
    ko: number,
    v: Float32Array,
    vo: number,
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
    const { nq, nkv, nl } = this.attnDims('attentionFwd', B, T, S, Hq, Hkv, D, qOffset, causal);
    const ops: Operand[] = [
      [q, qo, nq, false],
      [k, ko, nkv, false],
      [v, vo, nkv, false],
      [out, oo, nq, true],
      [lse, lo, nl, true],
    ];
    this.call('attentionFwd', ops, (p) =>
      this.rt.fn('mc_attention_fwd')(
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
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

  attentionFwdBf16Kv(
    q: Float32Array,
    qo: number,
    k: Uint16Array,
    ko: number,
    v: Uint16Array,
    vo: number,
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
    const { nq, nkv, nl } = this.attnDims('attentionFwdBf16Kv', B, T, S, Hq, Hkv, D, qOffset, causal);
    const ops: Operand[] = [
      [q, qo, nq, false],
      [k, ko, nkv, false],
      [v, vo, nkv, false],
      [out, oo, nq, true],
      [lse, lo, nl, true],
    ];
    this.call('attentionFwdBf16Kv', ops, (p) =>
      this.rt.fn('mc_attention_fwd_bf16kv')(
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
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

  attentionBwd(
    q: Float32Array,
    qo: number,
    k: Float32Array,
    ko: number,
    v: Float32Array,
    vo: number,
    out: Float32Array,
    oo: number,
    lse: Float32Array,
    lo: number,
    dout: Float32Array,
    doo: number,
    dq: Float32Array,
    dqo: number,
    dk: Float32Array,
    dko: number,
    dv: Float32Array,
    dvo: number,
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
    const { nq, nkv, nl } = this.attnDims('attentionBwd', B, T, S, Hq, Hkv, D, qOffset, causal);
    const ops: Operand[] = [
      [q, qo, nq, false],
      [k, ko, nkv, false],
      [v, vo, nkv, false],
      [out, oo, nq, false],
      [lse, lo, nl, false],
      [dout, doo, nq, false],
      [dq, dqo, nq, true],
      [dk, dko, nkv, true],
      [dv, dvo, nkv, true],
    ];
    this.call('attentionBwd', ops, (p) =>
      this.rt.fn('mc_attention_bwd')(
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        p[5],
        p[6],
        p[7],
        p[8],
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
