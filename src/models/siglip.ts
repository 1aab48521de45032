/**
 * The MiniCPM-V 1.0 vision tower (SPEC.md §10): timm's SigLIP VisionTransformer under `vpm.*`, without
 * class token or pooling head. Patches (conv as a GEMM over unfolded 14×14 patches) plus the stored
 * position table resized to the patch grid with antialiased bicubic, pre-norm blocks (fused qkv with
 * bias, unmasked attention, erf GELU MLP), final LayerNorm.
 */
import {
  add,
  attention,
  gelu,
  layerNorm,
  linearBias,
  permute,
  reshape,
  resizeGrid,
  slice,
  Tensor,
} from '../tensor/index.js';
import type { VisionConfig } from './minicpmv-config.js';

/** Every `vpm.*` parameter and shape (blocks that run only). */
export function siglipShapes(v: VisionConfig): Map<string, number[]> {
  const d = v.hiddenSize;
  const m = new Map<string, number[]>([
    ['vpm.pos_embed', [1, v.posGrid * v.posGrid, d]],
    ['vpm.patch_embed.proj.weight', [d, 3, v.patchSize, v.patchSize]],
    ['vpm.patch_embed.proj.bias', [d]],
  ]);
  for (let l = 0; l < v.numLayers; l++) {
    const b = `vpm.blocks.${l}`;
    for (const n of ['norm1', 'norm2']) {
      m.set(`${b}.${n}.weight`, [d]);
      m.set(`${b}.${n}.bias`, [d]);
    }
    m.set(`${b}.attn.qkv.weight`, [3 * d, d]);
    m.set(`${b}.attn.qkv.bias`, [3 * d]);
    m.set(`${b}.attn.proj.weight`, [d, d]);
    m.set(`${b}.attn.proj.bias`, [d]);
    m.set(`${b}.mlp.fc1.weight`, [v.intermediateSize, d]);
    m.set(`${b}.mlp.fc1.bias`, [v.intermediateSize]);
    m.set(`${b}.mlp.fc2.weight`, [d, v.intermediateSize]);
    m.set(`${b}.mlp.fc2.bias`, [d]);
  }
  m.set('vpm.norm.weight', [d]);
  m.set('vpm.norm.bias', [d]);
  return m;
}

export class SiglipVision {
  constructor(
    readonly config: VisionConfig,
    readonly p: (name: string) => Tensor,
  ) {}

  /** Patch grid [rows, cols] of an image of `height` × `width` (padded up to whole patches). */
  grid(height: number, width: number): [number, number] {
    const P = this.config.patchSize;
    return [Math.ceil(height / P), Math.ceil(width / P)];
  }

  /** `vpm.pos_embed` resized to the patch grid: [rows·cols, d]. */
  positions(grid: [number, number]): Tensor {
    const { posGrid, hiddenSize } = this.config;
    const table = reshape(this.p('vpm.pos_embed'), [posGrid * posGrid, hiddenSize]);
    return resizeGrid(table, [posGrid, posGrid], grid, 'antialias');
  }

  /** Patch embeddings [B, N, d] of pixels [B, 3, H, W] whose sides are multiples of the patch. */
  private patchEmbed(pixels: Tensor): Tensor {
    const P = this.config.patchSize;
    const d = this.config.hiddenSize;
    const [B, C, H, W] = pixels.shape;
    const gh = H / P;
    const gw = W / P;
    const x = reshape(pixels, [B, C, gh, P, gw, P]);
    // (c, ky, kx) innermost matches the conv weight [d, 3, P, P] flattened
    const patches = reshape(permute(x, [0, 2, 4, 1, 3, 5]), [B, gh * gw, C * P * P]); // (B, N, 3·P·P)
    const w = reshape(this.p('vpm.patch_embed.proj.weight'), [d, C * P * P]);
    return linearBias(patches, w, this.p('vpm.patch_embed.proj.bias')); // (B, N, d)
  }

  private block(l: number, x: Tensor): Tensor {
    const { hiddenSize: d, numHeads: H, layerNormEps: eps } = this.config;
    const b = `vpm.blocks.${l}`;
    const [B, N] = x.shape;
    const hd = d / H;
    const h = layerNorm(x, this.p(`${b}.norm1.weight`), this.p(`${b}.norm1.bias`), eps);
    const qkv = linearBias(h, this.p(`${b}.attn.qkv.weight`), this.p(`${b}.attn.qkv.bias`)); // (B, N, 3d)
    const part = (i: number) => reshape(slice(qkv, 2, i * d, (i + 1) * d), [B, N, H, hd]); // (B, N, H, hd)
    const o = attention(part(0), part(1), part(2), { causal: false }); // (B, N, H, hd)
    const attn = linearBias(
      reshape(o, [B, N, d]),
      this.p(`${b}.attn.proj.weight`),
      this.p(`${b}.attn.proj.bias`),
    );
    x = add(x, attn);
    const h2 = layerNorm(x, this.p(`${b}.norm2.weight`), this.p(`${b}.norm2.bias`), eps);
    const f = gelu(linearBias(h2, this.p(`${b}.mlp.fc1.weight`), this.p(`${b}.mlp.fc1.bias`))); // (B, N, ff)
    return add(x, linearBias(f, this.p(`${b}.mlp.fc2.weight`), this.p(`${b}.mlp.fc2.bias`)));
  }

  /** Features [B, N, d] of pixels [B, 3, H, W] (N = patch grid rows × cols, row-major). */
  forward(pixels: Tensor): Tensor {
    const P = this.config.patchSize;
    const [B, C, H, W] = pixels.shape;
    const grid = this.grid(H, W);
    if (H % P || W % P) {
      // timm's dynamic_img_pad: zeros on the bottom and right up to whole patches
      const padded = Tensor.zeros([B, C, grid[0] * P, grid[1] * P], pixels.dtype);
      const src = pixels.contiguousCopy();
      const s = src.data;
      const dst = padded.data;
      for (let b = 0; b < B * C; b++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) dst[(b * grid[0] * P + y) * grid[1] * P + x] = s[(b * H + y) * W + x];
      pixels = padded;
    }
    let x = add(this.patchEmbed(pixels), this.positions(grid)); // (B, N, d)
    for (let l = 0; l < this.config.numLayers; l++) x = this.block(l, x);
    return layerNorm(x, this.p('vpm.norm.weight'), this.p('vpm.norm.bias'), this.config.layerNormEps);
  }
}
