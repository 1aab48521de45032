/**
 * The sandbox's model family: MiniCPM blocks at laptop widths (head dim 32 by default, d_ff = 2.5·d,
 * tied embedding), built with μP or with the standard parametrization (SP) for the studies that
 * compare the two. Both start from the same initial weights; SP differs where μP acts: no embedding
 * or residual multipliers, logits not divided by the width ratio, and one global learning rate.
 */
import { widthMultiplier, type MiniCPMConfig } from '../models/config.js';
import { MiniCPM } from '../models/minicpm.js';
import { presetConfig } from '../models/presets.js';
import { Rng } from '../tensor/index.js';

export type Parametrization = 'mup' | 'sp';

export interface ModelSpec {
  width: number;
  layers: number;
  headDim: number;
  param: Parametrization;
  /** μP multipliers and init (MiniCPM's tuned values by default). */
  scaleEmb: number;
  scaleDepth: number;
  initStd: number;
  dimModelBase: number;
}

export class SandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxError';
  }
}

export function microModel(
  width: number,
  layers: number,
  over: Partial<Omit<ModelSpec, 'width' | 'layers'>> = {},
): ModelSpec {
  return {
    width,
    layers,
    headDim: 32,
    param: 'mup',
    scaleEmb: 12,
    scaleDepth: 1.4,
    initStd: 0.1,
    dimModelBase: 256,
    ...over,
  };
}

/** The μP config of a spec (the weights are always initialised from this one). */
export function mupConfig(m: ModelSpec, vocabSize: number): MiniCPMConfig {
  if (m.width % m.headDim !== 0)
    throw new SandboxError(`width ${m.width} is not a multiple of the head dim ${m.headDim}`);
  return presetConfig('tiny', vocabSize, {
    hiddenSize: m.width,
    intermediateSize: Math.round(2.5 * m.width),
    numLayers: m.layers,
    numHeads: m.width / m.headDim,
    numKvHeads: m.width / m.headDim,
    headDim: m.headDim,
    scaleEmb: m.scaleEmb,
    scaleDepth: m.scaleDepth,
    initStd: m.initStd,
    dimModelBase: m.dimModelBase,
  });
}

/** The config the model runs with: μP as is, SP with neutral multipliers. */
export function runConfig(m: ModelSpec, vocabSize: number): MiniCPMConfig {
  const c = mupConfig(m, vocabSize);
  if (m.param === 'mup') return c;
  // scale_depth = √L makes the residual factor scale_depth/√L exactly 1; dim_model_base = width
  // makes the logit divisor 1.
  return { ...c, scaleEmb: 1, scaleDepth: Math.sqrt(m.layers), dimModelBase: m.width };
}

/** Fresh weights for a spec, and the width multiplier its optimizer groups use (1 under SP). */
export function initModel(m: ModelSpec, vocabSize: number, seed: number): { model: MiniCPM; m: number } {
  const init = MiniCPM.init(mupConfig(m, vocabSize), new Rng(seed));
  if (m.param === 'mup') return { model: init, m: widthMultiplier(init.config) };
  return { model: new MiniCPM(runConfig(m, vocabSize), init.params), m: 1 };
}

/** The optimizer width multiplier of a loaded model (its config tells μP from SP). */
export function optimizerMultiplier(spec: ModelSpec, config: MiniCPMConfig): number {
  return spec.param === 'mup' ? widthMultiplier(config) : 1;
}
