/** `minicpm train`: thin wrapper resolving a run config and calling train/ (runTraining). */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { configToHF } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { MiniCPM } from '../models/minicpm.js';
import { presetConfig } from '../models/presets.js';
import { Rng } from '../tensor/index.js';
import { PackedLoader } from '../data/loader.js';
import { FixedBatch, type BatchSource } from '../train/batches.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { TrainError } from '../train/errors.js';
import { muPAdamW, type AdamW } from '../train/optimizer.js';
import { parseStepSchedule, type DecayKind, type ScheduleSpec } from '../train/schedules.js';
import { bytesPerToken, readShardIndex } from '../data/shards/format.js';
import { runTraining } from '../train/trainer.js';
import { ValidationSet } from '../train/validation.js';
import { writeTrainingReport } from '../report/training-report.js';
import { readMetrics } from '../train/metrics.js';
import { progressLine } from './progress.js';
import { resolveRunConfig } from './run-config.js';

export const TRAIN_DEFAULTS = {
  init: null as string | null,
  preset: 'tiny',
  vocabSize: 512,
  overfitBatch: null as string | null,
  /** Tokenized shards from `minicpm data prepare`. */
  data: null as string | null,
  /** Mixture name recorded in the shards (default: every source by its tokens). */
  mixture: null as string | null,
  seqLen: 256,
  batchSize: 8,
  evalEvery: 0,
  /** Fixed validation batches (capped at the distinct windows of the validation split). */
  evalBatches: 32,
  steps: 100,
  lr: 0.01,
  schedule: 'wsd',
  warmupSteps: 10,
  /** −1: start the decay at 90% of the steps (a 10% decay, SPEC.md §3). */
  decayStart: -1,
  decay: 'exp',
  /** 0: a half-life of a fifth of the decay length. */
  halfLife: 0,
  decaySteps: 0,
  weightDecay: 0.1,
  clip: 1.0,
  betas: [0.9, 0.95],
  eps: 1e-8,
  gradAccum: 1,
  /** Batch-size schedule in micro-batches per step, e.g. "0:1,200:2" (empty: constant gradAccum). */
  batchSchedule: '',
  seed: 0,
  out: null as string | null,
  saveEvery: 0,
  keepLast: 2,
  spikeFactor: 3,
  /** Write RUN/report/ (loss and LR charts, HTML) at the end. */
  report: true,
};

export type TrainConfig = typeof TRAIN_DEFAULTS;

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new TrainError(`"${v}" is not a number`);
  return n;
};
const int = (v: string): number => {
  const n = num(v);
  if (!Number.isInteger(n)) throw new TrainError(`"${v}" is not an integer`);
  return n;
};
const pair = (v: string): number[] => {
  const p = v.split(',').map(num);
  if (p.length !== 2) throw new TrainError(`expected two comma-separated numbers, got "${v}"`);
  return p;
};

export function scheduleFrom(c: TrainConfig, decayStartOverride?: number): ScheduleSpec {
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

function makeOptimizer(model: MiniCPM, c: TrainConfig): AdamW {
  return muPAdamW(model, {
    betas: c.betas as [number, number],
    eps: c.eps,
    weightDecay: c.weightDecay,
    clip: c.clip,
  });
}

function shardLoader(c: TrainConfig, split: 'train' | 'val'): PackedLoader {
  return new PackedLoader({
    shardsDir: c.data!,
    split,
    seqLen: c.seqLen,
    batchSize: c.batchSize,
    seed: c.seed,
    mixture: c.mixture ?? undefined,
  });
}

/** Bytes per token of the validation text of a mixture's sources, for bits-per-byte. */
export function valBytesPerToken(shardsDir: string, mixture: string | null): number {
  const idx = readShardIndex(shardsDir);
  const m = mixture ? idx.mixtures[mixture] : undefined;
  return bytesPerToken(idx, 'val', m ? Object.keys(m.weights) : undefined);
}

function batchSource(c: TrainConfig): BatchSource {
  if (c.overfitBatch) return FixedBatch.fromJson(JSON.parse(fs.readFileSync(c.overfitBatch, 'utf8')));
  if (c.data) return shardLoader(c, 'train');
  throw new TrainError(
    'no training data: pass --overfit-batch FILE.json (shard datasets: `minicpm data prepare` then --data DIR)',
  );
}

export async function trainCommand(cliOptions: Record<string, unknown>): Promise<void> {
  const {
    config: presetFile,
    resume,
    branchDecayFrom,
    ...rest
  } = cliOptions as { config?: string; resume?: string; branchDecayFrom?: string };
  let c = resolveRunConfig(TRAIN_DEFAULTS, presetFile, rest);
  let model: MiniCPM;
  let start;
  let restore: ((o: AdamW) => void) | null = null;
  let scheduleStart: number | undefined;
  if (resume || branchDecayFrom) {
    const ck = loadCheckpoint((resume ?? branchDecayFrom)!);
    model = ck.model;
    start = ck.state;
    restore = (o) => ck.restoreOptimizer(o);
    // The saved config wins for a resume; command-line flags may still extend --steps.
    if (resume)
      c = {
        ...c,
        ...(ck.state.config as Partial<TrainConfig>),
        ...stripUndefined(rest),
        out: c.out ?? resume,
      };
    if (branchDecayFrom) {
      // WSD's "take a model out at any time": decay from the stable checkpoint into a new run.
      if (!c.out)
        throw new TrainError(
          '--branch-decay-from needs --out NEW_RUN_DIR (the stable run is never modified)',
        );
      if (!(c.decaySteps > 0)) throw new TrainError('--branch-decay-from needs --decay-steps N');
      scheduleStart = ck.state.step;
      c = {
        ...(ck.state.config as TrainConfig),
        ...stripUndefined(rest),
        steps: ck.state.step + c.decaySteps,
        out: c.out,
        schedule: 'wsd',
      };
    }
  } else if (c.init) {
    model = await loadModel(c.init);
  } else {
    model = MiniCPM.init(presetConfig(c.preset, c.vocabSize), new Rng(c.seed));
  }
  const opt = makeOptimizer(model, c);
  restore?.(opt);
  const schedule = scheduleFrom(c, scheduleStart);
  const source = batchSource(c);
  const validation =
    c.data && c.evalEvery > 0
      ? ValidationSet.fromShards({
          shardsDir: c.data,
          mixture: c.mixture,
          seqLen: c.seqLen,
          batchSize: c.batchSize,
          batches: c.evalBatches,
        })
      : undefined;
  if (validation)
    process.stderr.write(
      `validation: ${validation.size} fixed batches, ${validation.tokens} tokens of the held-out split (fingerprint ${validation.fingerprint})\n`,
    );
  if (c.out) {
    fs.mkdirSync(c.out, { recursive: true });
    fs.writeFileSync(
      path.join(c.out, 'run_config.json'),
      JSON.stringify({ ...c, model: configToHF(model.config) }, null, 1),
    );
  }
  const result = await runTraining(
    model,
    opt,
    source,
    {
      steps: c.steps,
      schedule,
      gradAccum: c.gradAccum,
      gradAccumAt: c.batchSchedule ? parseStepSchedule(c.batchSchedule) : undefined,
      bytesPerToken: c.data ? valBytesPerToken(c.data, c.mixture) : undefined,
      runDir: c.out,
      saveEvery: c.saveEvery,
      keepLast: c.keepLast,
      evalEvery: validation ? c.evalEvery : 0,
      validation,
      spikeFactor: c.spikeFactor,
      config: c,
      phase: branchDecayFrom ? 'decay' : undefined,
      onStep: (m) => process.stderr.write(progressLine(m, c.steps) + '\n'),
    },
    start,
  );
  const last = result.metrics[result.metrics.length - 1];
  if (c.out && c.report) {
    const file = await writeTrainingReport(c.out, readMetrics(path.join(c.out, 'metrics.jsonl')));
    process.stderr.write(`report: ${file}\n`);
  }
  console.log(
    JSON.stringify({ steps: result.state.step, loss: last?.loss ?? null, checkpoint: result.checkpoint }),
  );
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('pretrain or continue a MiniCPM model with μP AdamW and a WSD/cosine/constant schedule')
    .option('--config <file>', 'JSON run config (keys as below, camelCase)')
    .option('--init <dir>', 'start from a Hugging Face folder')
    .option('--preset <name>', 'start from a fresh μP-initialised model of this shape')
    .option('--vocab-size <n>', 'vocabulary size for --preset', int)
    .option('--overfit-batch <file>', 'train on one fixed {"inputs","targets"} batch')
    .option('--data <dir>', 'tokenized shards (minicpm data prepare)')
    .option('--mixture <name>', 'mixture recorded in the shards')
    .option('--seq-len <n>', 'tokens per sequence (--data)', int)
    .option('--batch-size <n>', 'sequences per micro-batch (--data)', int)
    .option('--eval-every <n>', 'validation loss every n steps (--data)', int)
    .option('--eval-batches <n>', 'fixed validation batches, drawn once from the held-out split', int)
    .option('--steps <n>', 'total optimizer steps', int)
    .option('--lr <x>', 'peak learning rate (hidden matrices get lr/m)', num)
    .option('--schedule <kind>', 'wsd | cosine | constant')
    .option('--warmup-steps <n>', 'linear warmup steps', int)
    .option('--decay-start <n>', 'WSD: first decay step', int)
    .option('--decay <kind>', 'WSD decay: exp | linear | cosine | sqrt')
    .option('--half-life <n>', 'WSD exp decay half-life in steps', num)
    .option('--decay-steps <n>', 'decay length (linear/cosine/sqrt, and --branch-decay-from)', int)
    .option('--weight-decay <x>', 'decoupled weight decay', num)
    .option('--clip <x>', 'global gradient-norm clip (0 disables)', num)
    .option('--betas <b1,b2>', 'Adam betas', pair)
    .option('--eps <x>', 'Adam epsilon', num)
    .option('--grad-accum <n>', 'micro-batches per optimizer step', int)
    .option(
      '--batch-schedule <spec>',
      'micro-batches per step by step, e.g. 0:1,200:2 (a batch-size schedule)',
    )
    .option('--seed <n>', 'initialisation seed', int)
    .option('--out <dir>', 'run folder (metrics.jsonl, checkpoints/)')
    .option('--save-every <n>', 'checkpoint every n steps (and always at the end)', int)
    .option('--keep-last <n>', 'checkpoints to keep', int)
    .option('--spike-factor <x>', 'stop when loss exceeds x × its running mean (0: off)', num)
    .option('--no-report', 'skip the end-of-run report')
    .option('--resume <dir>', 'continue a run exactly from its latest checkpoint')
    .option(
      '--branch-decay-from <ckpt>',
      'start a decay run from a stable checkpoint (needs --decay-steps, --out)',
    )
    .action(async (opts: Record<string, unknown>) => trainCommand(opts));
}
