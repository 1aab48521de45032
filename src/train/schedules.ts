/**
 * Learning-rate schedules as pure functions of the 0-based step (SPEC.md §3). Each returns the factor
 * to multiply the peak LR by... or the LR itself when built with a peak: `lrAt(step)`.
 */

import { TrainError } from './errors.js';

export type DecayKind = 'exp' | 'linear' | 'cosine' | 'sqrt';

export interface WsdSpec {
  kind: 'wsd';
  peak: number;
  warmupSteps: number;
  /** First step of the decay (the end of the stable phase). */
  decayStart: number;
  decay: DecayKind;
  /** Exponential decay: steps for the LR to halve. */
  halfLife?: number;
  /** Linear/cosine/sqrt decay: steps from decayStart to the floor. */
  decaySteps?: number;
  /** Linear/cosine/sqrt floor as a fraction of peak (MiniCPM uses 0.1 for linear; 0 common for 1−√). */
  floor?: number;
}

export interface CosineSpec {
  kind: 'cosine';
  peak: number;
  warmupSteps: number;
  /** Length T of the cosine: after T the LR stays at 0.1·peak. */
  totalSteps: number;
  /** Final fraction of peak (MiniCPM's baseline: 0.1). */
  floor?: number;
}

export interface ConstantSpec {
  kind: 'constant';
  peak: number;
  warmupSteps: number;
}

export type ScheduleSpec = WsdSpec | CosineSpec | ConstantSpec;

/** Linear warmup `peak·(s+1)/W`, reaching the peak on step W−1. */
function warmup(peak: number, W: number, s: number): number | null {
  return s < W ? (peak * (s + 1)) / W : null;
}

export function lrAt(spec: ScheduleSpec, step: number): number {
  const w = warmup(spec.peak, spec.warmupSteps, step);
  if (w !== null) return w;
  switch (spec.kind) {
    case 'constant':
      return spec.peak;
    case 'cosine': {
      const floor = spec.floor ?? 0.1;
      const span = Math.max(1, spec.totalSteps - spec.warmupSteps);
      const p = Math.min(1, (step - spec.warmupSteps) / span);
      return spec.peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * p)));
    }
    case 'wsd': {
      if (step < spec.decayStart) return spec.peak;
      const t = step - spec.decayStart;
      if (spec.decay === 'exp') {
        if (!spec.halfLife || spec.halfLife <= 0) throw new Error('WSD exponential decay needs halfLife > 0');
        return spec.peak * Math.pow(0.5, t / spec.halfLife);
      }
      if (!spec.decaySteps || spec.decaySteps <= 0)
        throw new Error(`WSD ${spec.decay} decay needs decaySteps > 0`);
      const floor = spec.floor ?? (spec.decay === 'linear' ? 0.1 : 0);
      const p = Math.min(1, t / spec.decaySteps);
      const shape =
        spec.decay === 'linear'
          ? 1 - p
          : spec.decay === 'cosine'
            ? 0.5 * (1 + Math.cos(Math.PI * p))
            : 1 - Math.sqrt(p);
      return spec.peak * (floor + (1 - floor) * shape);
    }
  }
}

/**
 * A piecewise-constant step schedule ("0:1,200:2" → 1 until step 200, then 2), used for batch size
 * in micro-batches per step (SPEC.md §3: raising the batch mid-run acts like an LR drop).
 */
export function parseStepSchedule(spec: string): (step: number) => number {
  const points = spec.split(',').map((part) => {
    const [s, v] = part.split(':').map(Number);
    if (!Number.isInteger(s) || s < 0 || !Number.isInteger(v) || v < 1) {
      throw new Error(
        `step schedule "${spec}": each part must be STEP:VALUE with integers STEP ≥ 0 and VALUE ≥ 1`,
      );
    }
    return [s, v] as const;
  });
  points.sort((a, b) => a[0] - b[0]);
  if (points[0][0] !== 0) throw new Error(`step schedule "${spec}" must start at step 0`);
  return (step) => {
    let v = points[0][1];
    for (const [s, val] of points) if (step >= s) v = val;
    return v;
  };
}

/** A schedule as run configs spell it (`minicpm train`, `sft`, `dpo` flags). */
export interface ScheduleOptions {
  schedule: string;
  lr: number;
  warmupSteps: number;
  steps: number;
  /** WSD: first decay step; −1: at 90% of the steps (a 10% decay, SPEC.md §3). */
  decayStart: number;
  decay: string;
  /** WSD exp: half-life in steps; 0: a fifth of the decay length. */
  halfLife: number;
  /** Decay length; 0: to the last step. */
  decaySteps: number;
}

/** The ScheduleSpec a run config describes; `decayStartOverride` places a branched decay at its parent's step. */
export function scheduleFrom(c: ScheduleOptions, decayStartOverride?: number): ScheduleSpec {
  if (c.schedule === 'constant') return { kind: 'constant', peak: c.lr, warmupSteps: c.warmupSteps };
  if (c.schedule === 'cosine')
    return { kind: 'cosine', peak: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps };
  if (c.schedule !== 'wsd')
    throw new TrainError(`--schedule must be wsd, cosine or constant, got "${c.schedule}"`);
  if (!['exp', 'linear', 'cosine', 'sqrt'].includes(c.decay))
    throw new TrainError(`--decay must be exp, linear, cosine or sqrt, got "${c.decay}"`);
  const decayStart = decayStartOverride ?? (c.decayStart >= 0 ? c.decayStart : Math.round(0.9 * c.steps));
  const decaySteps = c.decaySteps > 0 ? c.decaySteps : Math.max(1, c.steps - decayStart);
  return {
    kind: 'wsd',
    peak: c.lr,
    warmupSteps: c.warmupSteps,
    decayStart,
    decay: c.decay as DecayKind,
    halfLife: c.halfLife > 0 ? c.halfLife : Math.max(1, decaySteps / 5),
    decaySteps,
  };
}
