/**
 * `minicpm train`: resolves a run config, opens the run through train/ (openRun: fresh, resume, or a
 * decay branched from a stable checkpoint, possibly on another mixture) and runs the common loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { PackedLoader } from '../data/loader.js';
import { configToHF } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { MiniCPM } from '../models/minicpm.js';
import { presetConfig } from '../models/presets.js';
import { writeTrainingReport } from '../report/training-report.js';
import { Rng } from '../tensor/index.js';
import { FixedBatch, type BatchSource } from '../train/batches.js';
import { readTrainerState, runDirOf } from '../train/checkpoint.js';
import { TrainError } from '../train/errors.js';
import { readMetrics } from '../train/metrics.js';
import { ADAMW_DEFAULTS } from '../train/optimizer.js';
import { openRun, type RunStart } from '../train/run.js';
import { parseStepSchedule, scheduleFrom } from '../train/schedules.js';
import { ValidationSet, valBytesPerToken } from '../train/validation.js';
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
  weightDecay: ADAMW_DEFAULTS.weightDecay,
  clip: ADAMW_DEFAULTS.clip,
  betas: [...ADAMW_DEFAULTS.betas],
  eps: ADAMW_DEFAULTS.eps,
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

/** The training data and what it is (openRun keeps a branch's cursor only on the same data). */
function trainingData(c: TrainConfig): { source: BatchSource; dataId: string } {
  if (c.overfitBatch)
    return {
      source: FixedBatch.fromJson(JSON.parse(fs.readFileSync(c.overfitBatch, 'utf8'))),
      dataId: `overfit-batch:${path.resolve(c.overfitBatch)}`,
    };
  if (c.data) {
    const source = new PackedLoader({
      shardsDir: c.data,
      split: 'train',
      seqLen: c.seqLen,
      batchSize: c.batchSize,
      seed: c.seed,
      mixture: c.mixture ?? undefined,
    });
    return { source, dataId: `mixture:${c.mixture ?? '(all sources)'}` };
  }
  throw new TrainError(
    'no training data: pass --overfit-batch FILE.json (shard datasets: `minicpm data prepare` then --data DIR)',
  );
}

/** The run config and how the run starts, from the flags (a resume's or a branch's saved config underneath). */
async function resolveStart(
  cliOptions: Record<string, unknown>,
): Promise<{ c: TrainConfig; start: RunStart; decayStart?: number }> {
  const {
    config: presetFile,
    resume,
    branchDecayFrom,
    ...rest
  } = cliOptions as { config?: string; resume?: string; branchDecayFrom?: string };
  if (resume && branchDecayFrom)
    throw new TrainError('pass either --resume or --branch-decay-from, not both');
  const flags = stripUndefined(rest);
  const c = resolveRunConfig(TRAIN_DEFAULTS, presetFile, rest);
  if (resume) {
    // The saved config wins; command-line flags may still extend --steps.
    const saved = readTrainerState(resume).config as Partial<TrainConfig>;
    const resumed = resolveRunConfig({ ...TRAIN_DEFAULTS, ...saved }, undefined, flags);
    // The run stays where it is found (its saved --out may name a folder it was moved from).
    return { c: { ...resumed, out: c.out ?? runDirOf(resume) }, start: { kind: 'resume', from: resume } };
  }
  if (branchDecayFrom) {
    // WSD's "take a model out at any time": decay from the stable checkpoint into a new run, on the
    // parent's data or on another mixture (MiniCPM's decay mixes in high-quality data).
    if (!c.out)
      throw new TrainError('--branch-decay-from needs --out NEW_RUN_DIR (the stable run is never modified)');
    if (!(c.decaySteps > 0)) throw new TrainError('--branch-decay-from needs --decay-steps N');
    const parent = readTrainerState(branchDecayFrom);
    const merged = resolveRunConfig(
      { ...TRAIN_DEFAULTS, ...(parent.config as Partial<TrainConfig>) },
      undefined,
      flags,
    );
    return {
      c: { ...merged, steps: parent.step + c.decaySteps, out: c.out, schedule: 'wsd' },
      start: { kind: 'branch', from: branchDecayFrom },
      decayStart: parent.step,
    };
  }
  const model = c.init
    ? await loadModel(c.init)
    : MiniCPM.init(presetConfig(c.preset, c.vocabSize), new Rng(c.seed));
  return { c, start: { kind: 'fresh', model } };
}

export async function trainCommand(cliOptions: Record<string, unknown>): Promise<void> {
  const { c, start, decayStart } = await resolveStart(cliOptions);
  const { source, dataId } = trainingData(c);
  const run = openRun({
    start,
    dataId,
    adamw: { betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, clip: c.clip },
  });
  if (run.kind === 'branch')
    process.stderr.write(
      `branching from ${run.from} at step ${run.state!.step}: ${run.continuesData ? 'continuing its data stream' : `${dataId} from its start`}\n`,
    );
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
      JSON.stringify({ ...c, model: configToHF(run.model.config) }, null, 1),
    );
  }
  const result = await run.train(source, {
    steps: c.steps,
    schedule: scheduleFrom(c, decayStart),
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
    phase: run.kind === 'branch' ? 'decay' : undefined,
    onStep: (m) => process.stderr.write(progressLine(m, c.steps) + '\n'),
  });
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
