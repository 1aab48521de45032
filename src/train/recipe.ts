/**
 * MiniCPM's pretraining recipe as two resumable runs (SPEC.md §3): a WSD stable phase at constant LR on
 * one mixture, then a decay branched off a stable checkpoint onto another mixture (high-quality and
 * instruction data mixed in). Both open through openRun, so the decay follows the one data rule (another
 * mixture: its stream starts fresh) and a rerun resumes whichever phase was interrupted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PackedLoader } from '../data/loader.js';
import type { MiniCPM } from '../models/minicpm.js';
import { checkpointAt, checkpointsDir, hasCheckpoint, resolveCheckpoint } from './checkpoint.js';
import { TrainError } from './errors.js';
import type { StepMetrics } from './metrics.js';
import { openRun } from './run.js';
import type { ScheduleSpec } from './schedules.js';
import type { TrainResult } from './trainer.js';
import { valBytesPerToken, type ValidationSet } from './validation.js';

export interface WsdRecipe {
  /** Run root: the phases go to ROOT/stable and ROOT/decay. */
  out: string;
  shardsDir: string;
  stableMixture: string;
  decayMixture: string;
  /** The fresh model of a new stable run (not called when the stable run resumes). */
  init: () => MiniCPM;
  seqLen: number;
  batchSize: number;
  stableSteps: number;
  decaySteps: number;
  warmupSteps: number;
  lr: number;
  seed: number;
  saveEvery: number;
  evalEvery: number;
  /** Stable checkpoints at multiples of this are kept (decays may branch from them); 0: none beyond the last. */
  pinEvery?: number;
  /** Branch the decay from the stable checkpoint at this step (a pinned one), not the end of the stable run. */
  decayFrom?: number;
  /** One held-out set for both phases: the decay's drop is measured on the stable curve's tokens. */
  validation?: ValidationSet;
  /** Copied into every checkpoint (complete model folders). */
  tokenizerDir?: string;
  /** Saved with the checkpoints (the caller's options). */
  config: Record<string, unknown>;
  onStep?: (m: StepMetrics, totalSteps: number) => void;
  log?: (msg: string) => void;
}

export const stableRunOf = (r: Pick<WsdRecipe, 'out'>): string => path.join(r.out, 'stable');
/** ROOT/decay, or ROOT/decay-from-STEP for a decay branched from an earlier stable checkpoint. */
export const decayRunOf = (r: Pick<WsdRecipe, 'out' | 'decayFrom'>): string =>
  path.join(r.out, r.decayFrom ? `decay-from-${r.decayFrom}` : 'decay');

/** The stable checkpoints kept for branching. */
export function pinnedSteps(r: Pick<WsdRecipe, 'pinEvery' | 'stableSteps'>): number[] {
  const every = r.pinEvery ?? 0;
  if (!(every > 0)) return [];
  return Array.from({ length: Math.floor(r.stableSteps / every) }, (_, i) => (i + 1) * every);
}

function loop(r: WsdRecipe, mixture: string) {
  return {
    validation: r.validation,
    tokenizerDir: r.tokenizerDir,
    bytesPerToken: valBytesPerToken(r.shardsDir, mixture),
    gradAccum: 1,
    keepLast: 2,
    evalEvery: r.validation ? r.evalEvery : 0,
    spikeFactor: 3,
    saveEvery: r.saveEvery,
  };
}

const loader = (r: WsdRecipe, mixture: string, seed: number): PackedLoader =>
  new PackedLoader({
    shardsDir: r.shardsDir,
    split: 'train',
    seqLen: r.seqLen,
    batchSize: r.batchSize,
    seed,
    mixture,
  });

/** The stable phase: warmup, then the peak LR until `stableSteps` (resumes its own checkpoint). */
export async function stablePhase(r: WsdRecipe): Promise<TrainResult> {
  const dir = stableRunOf(r);
  const schedule: ScheduleSpec = {
    kind: 'wsd',
    peak: r.lr,
    warmupSteps: r.warmupSteps,
    // never reached in this run: the decay is a branch of its own
    decayStart: r.stableSteps + r.decaySteps,
    decay: 'exp',
    halfLife: 1,
  };
  const run = openRun({
    start: hasCheckpoint(dir) ? { kind: 'resume', from: dir } : { kind: 'fresh', model: r.init() },
    dataId: `mixture:${r.stableMixture}`,
  });
  if (run.state) r.log?.(`resuming the stable phase at step ${run.state.step}`);
  const source = loader(r, r.stableMixture, r.seed);
  try {
    return await run.train(source, {
      ...loop(r, r.stableMixture),
      steps: r.stableSteps,
      schedule,
      runDir: dir,
      keepSteps: pinnedSteps(r),
      phase: 'stable',
      config: { ...r.config, phase: 'stable' },
      onStep: (m) => r.onStep?.(m, r.stableSteps),
    });
  } finally {
    source.close();
  }
}

/**
 * The decay phase: `decaySteps` of exponential decay on the decay mixture, branched from the stable
 * run's checkpoint at `decayFrom` (default: its latest), or resumed from its own checkpoint.
 */
export async function decayPhase(r: WsdRecipe): Promise<TrainResult> {
  const dir = decayRunOf(r);
  const from = r.decayFrom;
  const parent = from ? checkpointAt(stableRunOf(r), from) : resolveCheckpoint(stableRunOf(r));
  if (!hasCheckpoint(dir) && !fs.existsSync(parent)) {
    const kept = fs.existsSync(checkpointsDir(stableRunOf(r)))
      ? fs.readdirSync(checkpointsDir(stableRunOf(r))).filter((d) => /^step-\d+$/.test(d))
      : [];
    throw new TrainError(
      `no stable checkpoint at step ${from} to branch from (kept: ${kept.map((d) => Number(d.slice(5))).join(', ') || 'none'}); pick one of those`,
    );
  }
  const run = openRun({
    start: hasCheckpoint(dir) ? { kind: 'resume', from: dir } : { kind: 'branch', from: parent },
    dataId: `mixture:${r.decayMixture}`,
  });
  // A resumed decay keeps the branch point it started from (runs saved before it was recorded: the stable length).
  const saved = run.state!.config as { branchStep?: number; branchedFrom?: string };
  const branchStep = run.kind === 'branch' ? run.state!.step : (saved.branchStep ?? r.stableSteps);
  const branchedFrom = run.kind === 'branch' ? run.from : (saved.branchedFrom ?? parent);
  if (run.kind === 'resume') r.log?.(`resuming the decay phase at step ${run.state!.step}`);
  const total = branchStep + r.decaySteps;
  const schedule: ScheduleSpec = {
    kind: 'wsd',
    peak: r.lr,
    warmupSteps: r.warmupSteps,
    decayStart: branchStep,
    decay: 'exp',
    halfLife: r.decaySteps / 5,
  };
  const source = loader(r, r.decayMixture, r.seed + 1);
  try {
    return await run.train(source, {
      ...loop(r, r.stableMixture),
      steps: total,
      schedule,
      runDir: dir,
      phase: 'decay',
      config: { ...r.config, phase: 'decay', branchedFrom, branchStep },
      onStep: (m) => r.onStep?.(m, total),
    });
  } finally {
    source.close();
  }
}
