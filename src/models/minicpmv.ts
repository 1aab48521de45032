/**
 * MiniCPM-V 1.0 (SPEC.md §10): SigLIP vision tower → perceiver resampler → MiniCPM language model, with
 * each image's tokens spliced into its `<image>…</image>` span of the prompt. Parameters keep the
 * checkpoint's names (`vpm.*`, `resampler.*`; the language model's without their `llm.` prefix).
 */
import { resizeBicubic, toPixelValues, type RgbImage } from '../image/index.js';
import { crossEntropy, reshape, Tensor } from '../tensor/index.js';
import type { MiniCPMConfig } from './config.js';
import { MiniCPM } from './minicpm.js';
import type { MiniCPMVConfig } from './minicpmv-config.js';
import { overwriteRows, spliceImages, type EmbedRows } from './minicpmv-splice.js';
import { Resampler } from './resampler.js';
import { SiglipVision } from './siglip.js';

/**
 * The language model, able to take image tokens: `withImages` arms the next `embed` call (the prefill
 * of `forward`, `hidden` or the engine's generate) to splice them in; later calls (decode steps) embed
 * text only.
 */
export class MiniCPMVLanguage extends MiniCPM {
  private pending: Tensor[][] | null = null;
  private pendingRows: readonly EmbedRows[] | null = null;

  constructor(
    config: MiniCPMConfig,
    params: Map<string, Tensor>,
    readonly queryNum: number,
  ) {
    super(config, params);
  }

  /** Images for the next prefill, one list per batch row (one image per span, in order). */
  withImages(images: Tensor[][]): this {
    this.pending = images;
    return this;
  }

  /**
   * Image rows for the next embed call on a packed [1, N] pass (the server's scheduler: each chunk of a
   * prompt may hold part of an image span, at any row). An empty list disarms.
   */
  withEmbedRows(rows: readonly EmbedRows[]): this {
    this.pendingRows = rows;
    return this;
  }

  override embed(ids: Tensor): Tensor {
    const x = super.embed(ids);
    const rows = this.pendingRows;
    if (rows) {
      this.pendingRows = null;
      if (rows.length) return overwriteRows(x, rows);
    }
    const images = this.pending;
    if (!images) return x;
    this.pending = null;
    return spliceImages(x, ids.toArray(), images, this.queryNum);
  }
}

export class MiniCPMV {
  readonly vision: SiglipVision;
  readonly resampler: Resampler;

  constructor(
    readonly config: MiniCPMVConfig,
    /** `vpm.*` and `resampler.*` parameters by checkpoint name. */
    readonly params: Map<string, Tensor>,
    readonly llm: MiniCPMVLanguage,
  ) {
    const p = (name: string): Tensor => {
      const t = params.get(name);
      if (!t) throw new Error(`MiniCPM-V has no parameter "${name}"`);
      return t;
    };
    this.vision = new SiglipVision(config.vision, p);
    this.resampler = new Resampler(config, p);
  }

  parameters(): Tensor[] {
    return [...this.params.values(), ...this.llm.parameters()];
  }

  /** Pillow BICUBIC stretch to image_size² and (u8/255 − 0.5)/0.5: pixel values [1, 3, S, S]. */
  pixelValues(img: RgbImage): Tensor {
    const S = this.config.imageSize;
    return Tensor.from(toPixelValues(resizeBicubic(img, S, S)), [1, 3, S, S]);
  }

  /** One image's tokens [1, query_num, E] from its pixel values [1, 3, H, W]. */
  encodePixels(pixels: Tensor): Tensor {
    const [, , H, W] = pixels.shape;
    const features = this.vision.forward(pixels); // (1, N, d)
    return this.resampler.forward(features, this.vision.grid(H, W)); // (1, Q, E)
  }

  encodeImage(img: RgbImage): Tensor {
    return this.encodePixels(this.pixelValues(img));
  }

  /** Logits [B, T, V] of ids [B, T] whose spans take `images` (per row, per span, in order). */
  forward(ids: Tensor, images: Tensor[][]): Tensor {
    return this.llm.withImages(images).forward(ids);
  }

  /**
   * What training updates: the resampler and the language model, plus the vision tower with
   * `trainVision` (frozen otherwise, so no gradient is even computed for it, as MiniCPM-V trains).
   */
  trainableParameters(opts: { trainVision?: boolean } = {}): Tensor[] {
    const out: Tensor[] = [];
    for (const [name, t] of this.params) {
      if (name.startsWith('vpm.')) t.requiresGrad = !!opts.trainVision && t.dtype !== 'bf16';
      if (t.requiresGrad) out.push(t);
    }
    return [...out, ...this.llm.parameters().filter((t) => t.requiresGrad)];
  }

  /**
   * Mean next-token cross-entropy of ids [B, T] against targets [B, T] (−100 ignored: image rows and
   * prompts), the images encoded from pixels [1, 3, H, W] each and spliced in span order per row.
   */
  loss(ids: Tensor, targets: Tensor, pixels: Tensor[][]): Tensor {
    const images = pixels.map((row) => row.map((p) => this.encodePixels(p)));
    const logits = this.forward(ids, images);
    const V = this.config.llm.vocabSize;
    return crossEntropy(reshape(logits, [-1, V]), reshape(targets, [-1]));
  }
}
