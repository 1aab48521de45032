/**
 * AdamW with μP parameter groups (SPEC.md §2): the hidden `*_proj` matrices train at lr/m, the
 * embedding and norm gains at lr. Decoupled weight decay and global-norm clipping as in the reference.
 */
import { widthMultiplier } from '../models/config.js';
import type { MiniCPM } from '../models/minicpm.js';
import { adamwStep, noGrad, Tensor } from '../tensor/index.js';
import { TrainError } from './errors.js';

export interface AdamWConfig {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip (0 or Infinity disables). */
  clip: number;
}

/** MiniCPM's AdamW (SPEC.md §2): the one set of defaults every command, the demo and the sandbox use. */
export const ADAMW_DEFAULTS: Readonly<AdamWConfig> = Object.freeze({
  betas: [0.9, 0.95] as [number, number],
  eps: 1e-8,
  weightDecay: 0.1,
  clip: 1,
});

/** The defaults with `over`'s defined fields on top (run configs keep betas as a plain array). */
export function adamwConfig(
  over: Partial<Omit<AdamWConfig, 'betas'>> & { betas?: readonly number[] } = {},
): AdamWConfig {
  const c = { ...ADAMW_DEFAULTS, betas: [...ADAMW_DEFAULTS.betas] as [number, number] };
  if (over.betas !== undefined) {
    if (over.betas.length !== 2) throw new TrainError(`Adam betas are two numbers, got ${over.betas.length}`);
    c.betas = [over.betas[0], over.betas[1]];
  }
  if (over.eps !== undefined) c.eps = over.eps;
  if (over.weightDecay !== undefined) c.weightDecay = over.weightDecay;
  if (over.clip !== undefined) c.clip = over.clip;
  return c;
}

export interface ParamGroup {
  name: string;
  params: Tensor[];
  /** This group's LR = base LR × lrScale. */
  lrScale: number;
  weightDecay: number;
}

/** Splits named parameters into μP groups; `decayAll=false` exempts 1-D gains from weight decay. */
export function muPGroups(
  params: Map<string, Tensor>,
  widthMultiplier: number,
  weightDecay: number,
  decayAll = true,
): ParamGroup[] {
  const hidden: Tensor[] = [];
  const rest: Tensor[] = [];
  const gains: Tensor[] = [];
  for (const [name, p] of params) {
    if (/_proj\.weight$/.test(name)) hidden.push(p);
    else if (!decayAll && p.rank === 1) gains.push(p);
    else rest.push(p);
  }
  const groups: ParamGroup[] = [
    { name: 'hidden matrices (lr/m)', params: hidden, lrScale: 1 / widthMultiplier, weightDecay },
    { name: 'embedding and gains (lr)', params: rest, lrScale: 1, weightDecay },
  ];
  if (gains.length)
    groups.push({ name: 'gains without decay (lr)', params: gains, lrScale: 1, weightDecay: 0 });
  return groups.filter((g) => g.params.length);
}

export class AdamW {
  step = 0;
  readonly m = new Map<Tensor, Tensor>();
  readonly v = new Map<Tensor, Tensor>();

  constructor(
    readonly groups: ParamGroup[],
    readonly config: AdamWConfig,
  ) {
    for (const g of groups) {
      for (const p of g.params) {
        this.m.set(p, Tensor.zeros(p.shape).keep());
        this.v.set(p, Tensor.zeros(p.shape).keep());
      }
    }
  }

  params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** L2 norm over every gradient (missing gradients count as zero). */
  gradNorm(): number {
    let s = 0;
    for (const p of this.params()) {
      const g = p.grad;
      if (!g) continue;
      if (g.isContiguous()) {
        const d = g.data as Float32Array;
        for (let i = g.offset, end = g.offset + g.size; i < end; i++) s += d[i] * d[i];
      } else for (const x of g.toArray()) s += x * x;
    }
    return Math.sqrt(s);
  }

  /** Clips, updates every parameter with a gradient, and returns the pre-clip gradient norm. */
  update(baseLr: number): number {
    const norm = this.gradNorm();
    const { clip, betas, eps } = this.config;
    const scale = clip > 0 && Number.isFinite(clip) ? Math.min(1, clip / (norm + 1e-6)) : 1;
    this.step++;
    noGrad(() => {
      for (const g of this.groups) {
        for (const p of g.params) {
          if (!p.grad) continue;
          if (scale !== 1) {
            const d = p.grad.data as Float32Array;
            for (let i = 0; i < d.length; i++) d[i] *= scale;
          }
          adamwStep(p, p.grad, this.m.get(p)!, this.v.get(p)!, {
            lr: baseLr * g.lrScale,
            beta1: betas[0],
            beta2: betas[1],
            eps,
            weightDecay: g.weightDecay,
            step: this.step,
          });
        }
      }
    });
    return norm;
  }
}

/**
 * AdamW over a MiniCPM model's μP groups: hidden matrices at lr/m, m the model's width multiplier unless
 * given (the sandbox's base width may differ from the config's). Unset hyperparameters take ADAMW_DEFAULTS.
 */
export function muPAdamW(
  model: MiniCPM,
  over: Parameters<typeof adamwConfig>[0] = {},
  m = widthMultiplier(model.config),
): AdamW {
  const c = adamwConfig(over);
  return new AdamW(muPGroups(model.params, m, c.weightDecay), c);
}
