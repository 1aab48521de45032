/**
 * The native fast path of the row-wise and elementwise ops: each function returns null when its
 * inputs are not contiguous f32 (the caller then runs the TypeScript reference loop).
 */
import {
  type AttentionOptions,
  broadcastShapes,
  sameShape,
  ShapeError,
  Tensor,
  type AdamWHyper,
  type BinaryOp,
  type DecodeKernels,
  type DType,
  type RopeLayout,
  type UnaryOp,
} from '../../tensor/index.js';
import { BINARY_OPS, UNARY_OPS, type NnKernels } from '../kernels.js';

const f32 = (t: Tensor): Float32Array => t.data as Float32Array;
const ok = (...ts: Tensor[]): boolean => ts.every((t) => t.dtype === 'f32' && t.isContiguous());

let decodeAttention = true;

/**
 * Tests and benchmarks: whether one-row attention over a bf16 cache takes the AVX-512 decode kernel
 * (true, the default, where the CPU has it) or the portable flash-decoding path of nn-attention.c.
 */
export function useDecodeAttention(on: boolean): void {
  decodeAttention = on;
}

/** Scratch of the fused decode step: the rotated query and the discarded log-sum-exp (grown, reused). */
let decodeScratch = new Float32Array(0);

export class NativeNn {
  constructor(private readonly k: NnKernels) {}

  /**
   * The fused one-token decode kernels (Backend.decode), where the addon has them: RoPE, the KV append
   * and the attention kernel the attention op would pick (the AVX-512 decode kernel over a bf16 cache,
   * the flash-decoding one over f32) in one call (native/src/decode-step.c).
   */
  decodeKernels(): DecodeKernels | undefined {
    const fused = this.k.decodeRopeAppendAttend?.bind(this.k);
    if (!fused) return undefined;
    const cacheOk = (t: Tensor): boolean => (t.dtype === 'bf16' || t.dtype === 'f32') && t.isContiguous();
    return {
      ropeAppendAttend(q, k, v, cos, sin, pos, kCache, vCache, scale): Tensor | null {
        const [, , Hq, D] = q.shape;
        const [B, cap, Hkv] = kCache.shape;
        const one = (t: Tensor, H: number): boolean =>
          t.rank === 4 && t.shape[0] === 1 && t.shape[1] === 1 && t.shape[2] === H && t.shape[3] === D;
        const bf16 = kCache.dtype === 'bf16';
        if (
          (bf16 && !decodeAttention) ||
          !ok(q, k, v, cos, sin) ||
          !cacheOk(kCache) ||
          vCache.dtype !== kCache.dtype ||
          !cacheOk(vCache) ||
          q.rank !== 4 ||
          !one(q, Hq) ||
          !one(k, Hkv) ||
          !one(v, Hkv) ||
          B !== 1 ||
          kCache.rank !== 4 ||
          kCache.shape[3] !== D ||
          !sameShape(vCache.shape, kCache.shape) ||
          pos >= cap ||
          cos.shape[cos.rank - 1] !== D / 2
        )
          return null;
        const need = Hq * D + Hq;
        if (decodeScratch.length < need) decodeScratch = new Float32Array(need);
        const out = Tensor.empty(q.shape);
        const cache = (t: Tensor) => t.data as Uint16Array | Float32Array;
        const done = fused(
          f32(q),
          q.offset,
          f32(k),
          k.offset,
          f32(v),
          v.offset,
          f32(cos),
          cos.offset,
          f32(sin),
          sin.offset,
          pos,
          cache(kCache),
          kCache.offset,
          cache(vCache),
          vCache.offset,
          decodeScratch,
          0,
          f32(out),
          0,
          decodeScratch,
          Hq * D,
          Hq,
          Hkv,
          D,
          scale,
        );
        if (done) return out;
        out.dispose();
        return null;
      },
    };
  }

  unary(op: UnaryOp, x: Tensor): Tensor | null {
    if (!ok(x)) return null;
    const y = Tensor.empty(x.shape);
    this.k.unary(UNARY_OPS.indexOf(op), f32(x), x.offset, f32(y), 0, x.size);
    return y;
  }

  unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, dy: Tensor): Tensor | null {
    if (!ok(x, y, dy) || x.size !== dy.size) return null;
    const dx = Tensor.empty(x.shape);
    this.k.unaryGrad(
      UNARY_OPS.indexOf(op),
      f32(x),
      x.offset,
      f32(y),
      y.offset,
      f32(dy),
      dy.offset,
      f32(dx),
      0,
      x.size,
    );
    return dx;
  }

  /** Same shapes, a scalar, or b a trailing-dims suffix of a (rows broadcast); commutative ops may swap. */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor | null {
    if (!ok(a, b)) return null;
    const shape = broadcastShapes(a.shape, b.shape);
    const n = shape.reduce((p, d) => p * d, 1);
    const commutative = op === 'add' || op === 'mul' || op === 'maximum' || op === 'minimum';
    let [x, y] = [a, b];
    if (x.size !== n && commutative && y.size === n) [x, y] = [b, a];
    if (x.size !== n || n === 0) return null;
    const period = y.size;
    if (period !== n && period !== 1) {
      // y must equal the trailing dims of the output (ignoring its leading 1s).
      const ys = y.shape.slice(y.shape.findIndex((d) => d !== 1));
      const tail = shape.slice(shape.length - ys.length);
      if (!ys.every((d, i) => d === tail[i])) return null;
    }
    const out = Tensor.empty(shape);
    this.k.binary(BINARY_OPS.indexOf(op), f32(x), x.offset, f32(y), y.offset, f32(out), 0, n, period);
    return out;
  }

  scalar(op: 'add' | 'mul' | 'pow', x: Tensor, value: number): Tensor | null {
    if (!ok(x)) return null;
    if (op === 'pow') return value === 2 ? this.unary('square', x) : null;
    const y = Tensor.empty(x.shape);
    this.k.affine(f32(x), x.offset, f32(y), 0, x.size, op === 'mul' ? value : 1, op === 'add' ? value : 0);
    return y;
  }

  /** One [outer, r, inner] reduction of a contiguous tensor. */
  reduceRun(
    op: 'sum' | 'max',
    src: Float32Array,
    srcOff: number,
    outer: number,
    r: number,
    inner: number,
    dst: Float32Array,
  ): void {
    this.k.reduce(op === 'sum' ? 0 : 1, src, srcOff, dst, 0, outer, r, inner);
  }

  softmax(x: Tensor, log: boolean): Tensor | null {
    if (!ok(x)) return null;
    const V = x.shape[x.rank - 1];
    const y = Tensor.empty(x.shape);
    this.k.softmaxFwd(f32(x), x.offset, f32(y), 0, V ? x.size / V : 0, V, log ? 1 : 0);
    return y;
  }

  softmaxGrad(y: Tensor, dy: Tensor, log: boolean): Tensor | null {
    if (!ok(y, dy)) return null;
    const V = y.shape[y.rank - 1];
    const dx = Tensor.empty(y.shape);
    this.k.softmaxBwd(f32(y), y.offset, f32(dy), dy.offset, f32(dx), 0, V ? y.size / V : 0, V, log ? 1 : 0);
    return dx;
  }

  rmsNorm(x: Tensor, g: Tensor, eps: number): { y: Tensor; rstd: Tensor } | null {
    if (!ok(x, g)) return null;
    const D = x.shape[x.rank - 1];
    const rows = D ? x.size / D : 0;
    const y = Tensor.empty(x.shape);
    const rstd = Tensor.empty(x.shape.slice(0, -1));
    this.k.rmsnormFwd(f32(x), x.offset, f32(g), g.offset, f32(y), 0, f32(rstd), 0, rows, D, eps);
    return { y, rstd };
  }

  rmsNormGrad(x: Tensor, g: Tensor, rstd: Tensor, dy: Tensor): { dx: Tensor; dgain: Tensor } | null {
    if (!ok(x, g, rstd, dy)) return null;
    const D = x.shape[x.rank - 1];
    const dx = Tensor.empty(x.shape);
    const dgain = Tensor.empty([D]);
    this.k.rmsnormBwd(
      f32(x),
      x.offset,
      f32(g),
      g.offset,
      f32(rstd),
      rstd.offset,
      f32(dy),
      dy.offset,
      f32(dx),
      0,
      f32(dgain),
      0,
      D ? x.size / D : 0,
      D,
    );
    return { dx, dgain };
  }

  rope(
    x: Tensor,
    cos: Tensor,
    sin: Tensor,
    pos: number,
    layout: RopeLayout,
    inverse: boolean,
  ): Tensor | null {
    if (!ok(x, cos, sin)) return null;
    const [B, T, H, D] = x.shape;
    const y = Tensor.empty(x.shape);
    this.k.rope(
      f32(x),
      x.offset,
      f32(cos),
      cos.offset,
      f32(sin),
      sin.offset,
      f32(y),
      0,
      B,
      T,
      H,
      D,
      pos,
      layout === 'interleaved' ? 1 : 0,
      inverse ? 1 : 0,
    );
    return y;
  }

  swiglu(g: Tensor, u: Tensor): Tensor | null {
    if (!ok(g, u)) return null;
    const y = Tensor.empty(g.shape);
    this.k.swigluFwd(f32(g), g.offset, f32(u), u.offset, f32(y), 0, g.size);
    return y;
  }

  swigluGrad(g: Tensor, u: Tensor, dy: Tensor): { dgate: Tensor; dup: Tensor } | null {
    if (!ok(g, u, dy)) return null;
    const dgate = Tensor.empty(g.shape);
    const dup = Tensor.empty(g.shape);
    this.k.swigluBwd(
      f32(g),
      g.offset,
      f32(u),
      u.offset,
      f32(dy),
      dy.offset,
      f32(dgate),
      0,
      f32(dup),
      0,
      g.size,
    );
    return { dgate, dup };
  }

  crossEntropy(
    logits: Tensor,
    targets: Tensor,
    ignore: number,
  ): { loss: Tensor; lse: Tensor; count: number } | null {
    if (!ok(logits) || !targets.isContiguous()) return null;
    const [N, V] = logits.shape;
    const lse = Tensor.empty([N]);
    const [sum, count, bad] = this.k.ceFwd(
      f32(logits),
      logits.offset,
      targets.data as Int32Array,
      targets.offset,
      f32(lse),
      0,
      N,
      V,
      ignore,
    );
    if (bad >= 0) {
      const t = (targets.data as Int32Array)[targets.offset + bad];
      lse.dispose();
      throw new ShapeError(
        `crossEntropy: target ${t} at row ${bad} is outside [0, ${V}) and is not the ignore index ${ignore}`,
      );
    }
    return { loss: Tensor.full([], count ? sum / count : 0), lse, count };
  }

  crossEntropyGrad(
    logits: Tensor,
    targets: Tensor,
    lse: Tensor,
    dloss: number,
    ignore: number,
  ): Tensor | null {
    if (!ok(logits, lse) || !targets.isContiguous()) return null;
    const [N, V] = logits.shape;
    const T = targets.data as Int32Array;
    let count = 0;
    for (let i = 0; i < N; i++) if (T[targets.offset + i] !== ignore) count++;
    const out = Tensor.empty([N, V]);
    this.k.ceBwd(
      f32(logits),
      logits.offset,
      T,
      targets.offset,
      f32(lse),
      lse.offset,
      f32(out),
      0,
      N,
      V,
      count ? dloss / count : 0,
      ignore,
    );
    return out;
  }

  adamw(p: Tensor, g: Tensor, m: Tensor, v: Tensor, hp: AdamWHyper): boolean {
    if (!ok(p, g, m, v)) return false;
    this.k.adamw(
      f32(p),
      p.offset,
      f32(g),
      g.offset,
      f32(m),
      m.offset,
      f32(v),
      v.offset,
      p.size,
      hp.lr,
      hp.beta1,
      hp.beta2,
      hp.eps,
      hp.weightDecay,
      1 - Math.pow(hp.beta1, hp.step),
      1 - Math.pow(hp.beta2, hp.step),
    );
    return true;
  }

  /** Contiguous f32 ⇄ bf16 in C (a KV-cache append converts 2.4 M floats a layer at a 512-token prefill). */
  cast(x: Tensor, dtype: DType): Tensor | null {
    if (!x.isContiguous() || x.size === 0) return null;
    if (x.dtype === 'f32' && dtype === 'bf16' && this.k.f32ToBf16) {
      const y = Tensor.empty(x.shape, 'bf16');
      this.k.f32ToBf16(f32(x), x.offset, y.data as Uint16Array, 0, x.size);
      return y;
    }
    if (x.dtype === 'bf16' && dtype === 'f32' && this.k.bf16ToF32) {
      const y = Tensor.empty(x.shape, 'f32');
      this.k.bf16ToF32(x.data as Uint16Array, x.offset, f32(y), 0, x.size);
      return y;
    }
    return null;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions): { out: Tensor; lse: Tensor } | null {
    const bf16 = (t: Tensor): boolean => t.dtype === 'bf16' && t.isContiguous();
    const kvBf16 = bf16(k) && bf16(v);
    if (!ok(q) || !(kvBf16 || ok(k, v))) return null;
    const [B, T, Hq, D] = q.shape;
    const [, S, Hkv] = k.shape;
    const out = Tensor.empty(q.shape);
    const lse = Tensor.empty([B, Hq, T]);
    const dims = [B, T, S, Hq, Hkv, D, o.qOffset, o.causal ? 1 : 0, o.scale] as const;
    const u16 = (t: Tensor): Uint16Array => t.data as Uint16Array;
    // the buffer arguments of both bf16-cache kernels: q, k, v, out, lse, each with its offset
    const bf16Bufs = () =>
      [f32(q), q.offset, u16(k), k.offset, u16(v), v.offset, f32(out), 0, f32(lse), 0] as const;
    // one query row seeing every cached key: the AVX-512 decode kernel (native/src/decode-attention*.c)
    if (
      decodeAttention &&
      this.k.decodeAttentionBf16 &&
      kvBf16 &&
      T === 1 &&
      (!o.causal || o.qOffset + 1 >= S) &&
      this.k.decodeAttentionBf16(...bf16Bufs(), B, S, Hq, Hkv, D, o.scale)
    )
      return { out, lse };
    if (kvBf16) {
      this.k.attentionFwdBf16Kv(...bf16Bufs(), ...dims);
    } else
      this.k.attentionFwd(
        f32(q),
        q.offset,
        f32(k),
        k.offset,
        f32(v),
        v.offset,
        f32(out),
        0,
        f32(lse),
        0,
        ...dims,
      );
    return { out, lse };
  }

  attentionGrad(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    dout: Tensor,
    o: AttentionOptions,
  ): { dq: Tensor; dk: Tensor; dv: Tensor } | null {
    if (!ok(q, k, v, out, lse, dout)) return null;
    const [B, T, Hq, D] = q.shape;
    const [, S, Hkv] = k.shape;
    const dq = Tensor.empty(q.shape);
    const dk = Tensor.empty(k.shape);
    const dv = Tensor.empty(v.shape);
    this.k.attentionBwd(
      f32(q),
      q.offset,
      f32(k),
      k.offset,
      f32(v),
      v.offset,
      f32(out),
      out.offset,
      f32(lse),
      lse.offset,
      f32(dout),
      dout.offset,
      f32(dq),
      0,
      f32(dk),
      0,
      f32(dv),
      0,
      B,
      T,
      S,
      Hq,
      Hkv,
      D,
      o.qOffset,
      o.causal ? 1 : 0,
      o.scale,
    );
    return { dq, dk, dv };
  }
}
