/**
 * The MiniCPM-V 1.0 perceiver resampler (`resampler.*`, SPEC.md §10): query_num learned queries attend
 * over the projected vision features with one nn.MultiheadAttention (heads of 128). Positions: the
 * stored 2-D sin-cos table P on the queries, and P resized with plain bicubic to the patch grid on the
 * keys (values get none). Then out_proj, ln_post and the right-multiplied `proj`.
 */
import {
  add,
  attention,
  contiguous,
  expand,
  layerNorm,
  linear,
  linearBias,
  matmul,
  reshape,
  resizeGrid,
  slice,
  type Tensor,
} from '../tensor/index.js';
import type { MiniCPMVConfig } from './minicpmv-config.js';

const LN_EPS = 1e-6;

/** Every `resampler.*` parameter and shape (kv_proj only when the widths differ, as in resampler.py). */
export function resamplerShapes(c: MiniCPMVConfig): Map<string, number[]> {
  const E = c.embedDim;
  const m = new Map<string, number[]>([
    ['resampler.query', [c.queryNum, E]],
    ['resampler.pos_embed', [c.queryNum, E]],
    ['resampler.proj', [E, E]],
    ['resampler.attn.in_proj_weight', [3 * E, E]],
    ['resampler.attn.in_proj_bias', [3 * E]],
    ['resampler.attn.out_proj.weight', [E, E]],
    ['resampler.attn.out_proj.bias', [E]],
  ]);
  if (c.vision.hiddenSize !== E) m.set('resampler.kv_proj.weight', [E, c.vision.hiddenSize]);
  for (const n of ['ln_q', 'ln_kv', 'ln_post']) {
    m.set(`resampler.${n}.weight`, [E]);
    m.set(`resampler.${n}.bias`, [E]);
  }
  return m;
}

export class Resampler {
  constructor(
    readonly config: MiniCPMVConfig,
    readonly p: (name: string) => Tensor,
  ) {}

  /** `resampler.pos_embed` resized from its query grid to the patch grid (the keys' positions). */
  keyPositions(grid: [number, number]): Tensor {
    const side = Math.round(Math.sqrt(this.config.queryNum));
    return resizeGrid(this.p('resampler.pos_embed'), [side, side], grid, 'plain');
  }

  /** The third `i` (0 q, 1 k, 2 v) of the fused input projection. */
  private inProj(x: Tensor, i: number): Tensor {
    const E = this.config.embedDim;
    const w = slice(this.p('resampler.attn.in_proj_weight'), 0, i * E, (i + 1) * E);
    const b = slice(this.p('resampler.attn.in_proj_bias'), 0, i * E, (i + 1) * E);
    return linearBias(x, w, b);
  }

  /** Image tokens [B, query_num, E] from vision features [B, N, d] on a patch grid. */
  forward(features: Tensor, grid: [number, number]): Tensor {
    const { embedDim: E, queryNum: Q, resamplerHeads: H } = this.config;
    const [B, N] = features.shape;
    const hd = E / H;
    let kv =
      this.config.vision.hiddenSize !== E ? linear(features, this.p('resampler.kv_proj.weight')) : features;
    kv = layerNorm(kv, this.p('resampler.ln_kv.weight'), this.p('resampler.ln_kv.bias'), LN_EPS); // (B, N, E)
    const q = layerNorm(
      this.p('resampler.query'),
      this.p('resampler.ln_q.weight'),
      this.p('resampler.ln_q.bias'),
      LN_EPS,
    );
    const qIn = add(q, this.p('resampler.pos_embed')); // (Q, E)
    const kIn = add(kv, this.keyPositions(grid)); // (B, N, E)
    const qh = contiguous(expand(reshape(this.inProj(qIn, 0), [1, Q, H, hd]), [B, Q, H, hd]));
    const kh = reshape(this.inProj(kIn, 1), [B, N, H, hd]);
    const vh = reshape(this.inProj(kv, 2), [B, N, H, hd]);
    const o = reshape(attention(qh, kh, vh, { causal: false }), [B, Q, E]); // (B, Q, E)
    const out = linearBias(
      o,
      this.p('resampler.attn.out_proj.weight'),
      this.p('resampler.attn.out_proj.bias'),
    );
    const x = layerNorm(out, this.p('resampler.ln_post.weight'), this.p('resampler.ln_post.bias'), LN_EPS);
    return matmul(x, this.p('resampler.proj')); // (B, Q, E)
  }
}
