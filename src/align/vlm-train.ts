/**
 * What training MiniCPM-V needs beyond text SFT: the images (decoded and preprocessed once), the
 * objective (tower → resampler → splice → next-token cross-entropy) and the optimizer over what trains.
 * The language model keeps its μP groups; the resampler (and with --train-vision the tower) form a group
 * at the base LR. The vision tower is frozen by default: it then runs without gradients, and its output
 * for each image is computed once and reused (a frozen tower gives the same features every step).
 * `resampler.pos_embed` is the fixed sin-cos table (resampler.py keeps it frozen) and never trains.
 */
import fs from 'node:fs';
import { decodeImage } from '../image/index.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { concat, crossEntropy, noGrad, reshape, slice, Tensor } from '../tensor/index.js';
import { AdamW, adamwConfig, muPGroups, type ParamGroup } from '../train/optimizer.js';
import { widthMultiplier } from '../models/config.js';
import type { Objective } from '../train/validation.js';
import { batchImages } from './vlm-examples.js';

/** Pixel values of every image of a run, and the frozen tower's features when the tower does not train. */
export class ImageStore {
  private readonly features = new Map<number, Tensor>();

  private constructor(
    private readonly pixels: Tensor[],
    readonly trainVision: boolean,
  ) {}

  /** Decodes and preprocesses (Pillow BICUBIC to image_size², normalised) every image once. */
  static async load(vlm: MiniCPMV, paths: readonly string[], trainVision: boolean): Promise<ImageStore> {
    const pixels: Tensor[] = [];
    for (const p of paths) {
      const img = await decodeImage(fs.readFileSync(p), { what: p });
      pixels.push(noGrad(() => vlm.pixelValues(img)).keep());
    }
    return new ImageStore(pixels, trainVision);
  }

  get size(): number {
    return this.pixels.length;
  }

  /** Image `i`'s tokens [1, query_num, E] through the tower (cached when frozen) and the resampler. */
  tokens(vlm: MiniCPMV, i: number): Tensor {
    const px = this.pixels[i];
    const [, , H, W] = px.shape;
    const f = this.trainVision ? vlm.vision.forward(px) : this.cachedFeatures(vlm, i);
    return vlm.resampler.forward(f, vlm.vision.grid(H, W));
  }

  /**
   * The tokens [n, query_num, E] of images `indices` (in order) through one batched tower and resampler
   * call: each image is its own sequence in both, so row k equals tokens(vlm, indices[k]); images of
   * unequal sizes fall back to one call each.
   */
  tokensOf(vlm: MiniCPMV, indices: readonly number[]): Tensor {
    const shape = this.pixels[indices[0]].shape;
    if (indices.length === 1) return this.tokens(vlm, indices[0]);
    if (indices.some((i) => this.pixels[i].shape.some((s, k) => s !== shape[k])))
      return concat(
        indices.map((i) => this.tokens(vlm, i)),
        0,
      );
    const f = this.trainVision
      ? vlm.vision.forward(
          concat(
            indices.map((i) => this.pixels[i]),
            0,
          ),
        )
      : concat(
          indices.map((i) => this.cachedFeatures(vlm, i)),
          0,
        );
    return vlm.resampler.forward(f, vlm.vision.grid(shape[2], shape[3]));
  }

  private cachedFeatures(vlm: MiniCPMV, i: number): Tensor {
    let cached = this.features.get(i);
    if (!cached) {
      cached = noGrad(() => vlm.vision.forward(this.pixels[i])).keep();
      this.features.set(i, cached);
    }
    return cached;
  }

  /** Drops the cached tower features (after the tower's weights changed). */
  clearFeatures(): void {
    for (const t of this.features.values()) t.dispose();
    this.features.clear();
  }
}

/**
 * Mean next-token cross-entropy of a batch made by imageBatch, images spliced into their spans: the
 * language model's loss, with the head applied only to the positions that have a target (answers are a
 * few tokens of a long prompt, and the vocabulary-wide head is much of a small model's cost).
 */
export function imageSftObjective(vlm: MiniCPMV, store: ImageStore): Objective {
  return (_model, batch) => {
    const rows = batchImages(batch);
    const flatIdx = rows.flat();
    // every image of the batch through the tower and the resampler at once, then one slice per span
    const all = flatIdx.length ? store.tokensOf(vlm, flatIdx) : null;
    let k = 0;
    const images = rows.map((row) => row.map(() => (k++, slice(all!, 0, k - 1, k))));
    const ids = Tensor.from(batch.inputs, [batch.batch, batch.seqLen], 'i32');
    const h = vlm.llm.withImages(images).hidden(ids);
    const E = h.shape[2];
    const flat = reshape(h, [batch.batch * batch.seqLen, E]);
    // runs of consecutive scored positions (one per answer), gathered by slicing
    const parts: Tensor[] = [];
    const kept: number[] = [];
    const t = batch.targets;
    for (let i = 0; i < t.length;) {
      if (t[i] === -100) {
        i++;
        continue;
      }
      let j = i;
      while (j < t.length && t[j] !== -100) kept.push(t[j++]);
      parts.push(slice(flat, 0, i, j));
      i = j;
    }
    const logits = vlm.llm.logitsFromHidden(parts.length === 1 ? parts[0] : concat(parts, 0));
    const loss = crossEntropy(logits, Tensor.from(Int32Array.from(kept), [kept.length], 'i32'));
    const spread = all && new Set(flatIdx).size > 1 ? imageSpread(all) : null;
    return spread === null ? { loss } : { loss, stats: { image_spread: spread } };
  };
}

/**
 * How much image tokens [n, …] differ between the n images: the RMS of their deviation from the mean
 * over images, as a fraction of their RMS. Near 0 means every image gives (almost) the same tokens, so
 * the language model cannot tell images apart (the collapse a tower trained too fast falls into).
 */
export function imageSpread(tokens: Tensor): number {
  const n = tokens.shape[0];
  const a = tokens.toArray();
  const per = a.length / n;
  const mean = new Float64Array(per);
  for (let i = 0; i < n; i++) for (let j = 0; j < per; j++) mean[j] += a[i * per + j] / n;
  let dev = 0;
  let all = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < per; j++) {
      const x = a[i * per + j];
      dev += (x - mean[j]) ** 2;
      all += x * x;
    }
  return all > 0 ? Math.sqrt(dev / all) : 0;
}

/** The named parameters that train: the resampler (not its fixed table) and, if asked, the tower. */
export function visionTrainables(vlm: MiniCPMV, trainVision: boolean): Map<string, Tensor> {
  return new Map(
    [...vlm.params].filter(
      ([n]) =>
        (n.startsWith('resampler.') && n !== 'resampler.pos_embed') || (trainVision && n.startsWith('vpm.')),
    ),
  );
}

/**
 * AdamW: the language model's μP groups, plus the resampler and the tower at their fractions of the base
 * LR. Fresh vision weights (N(0, 0.02)) need a small fraction: Adam moves every weight by about the LR
 * per step along the early, nearly rank-one gradient, so at the language model's LR a few steps make each
 * matrix rank-one dominated and every image maps to the same tokens (the collapse measured in README).
 */
export function imageSftAdamW(
  vlm: MiniCPMV,
  over: Parameters<typeof adamwConfig>[0],
  trainVision: boolean,
  /** false: the language model stays frozen (MiniCPM-V's pre-training stages align the vision side only). */
  trainLanguage = true,
  /** The tower's LR as a fraction of the base LR. */
  visionLrScale = 1,
  /** The resampler's LR as a fraction of the base LR. */
  resamplerLrScale = 1,
): AdamW {
  const c = adamwConfig(over);
  const groups: ParamGroup[] = trainLanguage
    ? muPGroups(vlm.llm.params, widthMultiplier(vlm.llm.config), c.weightDecay)
    : [];
  const vision = [...visionTrainables(vlm, trainVision)];
  const tower = vision.filter(([n]) => n.startsWith('vpm.')).map(([, t]) => t);
  const resampler = vision.filter(([n]) => !n.startsWith('vpm.')).map(([, t]) => t);
  const lr = (x: number) => (x === 1 ? 'lr' : `${x} lr`);
  if (visionLrScale === resamplerLrScale || !tower.length)
    groups.push({
      name: `${trainVision ? 'resampler and vision tower' : 'resampler'} (${lr(resamplerLrScale)})`,
      params: [...resampler, ...tower],
      lrScale: resamplerLrScale,
      weightDecay: c.weightDecay,
    });
  else
    groups.push(
      {
        name: `resampler (${lr(resamplerLrScale)})`,
        params: resampler,
        lrScale: resamplerLrScale,
        weightDecay: c.weightDecay,
      },
      {
        name: `vision tower (${lr(visionLrScale)})`,
        params: tower,
        lrScale: visionLrScale,
        weightDecay: c.weightDecay,
      },
    );
  return new AdamW(groups, c);
}
