/**
 * The demo's alignment stages, each a run of its own opened through train/openRun (fresh from the previous
 * stage's model folder, or resumed from its own checkpoint): SFT on instruction conversations (loss on the
 * answers only, WSD at a tenth of the pretraining peak, SPEC §5.3), then DPO on preference pairs against
 * the SFT model as reference (cosine, β, SPEC §5.4). Both score a fixed held-out set as they go.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DpoBatches,
  dpoExamples,
  dpoObjective,
  heldOutBatches,
  heldOutPairBatches,
  referenceLogProbs,
  SftBatches,
  sftExamples,
  type ChatFormat,
  type Conversation,
  type PreferencePair,
  type ReferenceLogProbs,
} from '../align/index.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { hasCheckpoint, loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import type { StepMetrics } from '../train/metrics.js';
import { openRun } from '../train/run.js';
import type { ScheduleSpec } from '../train/schedules.js';
import { ValidationSet } from '../train/validation.js';
import { DemoError } from './options.js';

const FORMAT: ChatFormat = { kind: 'minicpm' };

export interface AlignStageSpec {
  /** The model folder this stage starts from (a checkpoint of the previous stage). */
  from: string;
  runDir: string;
  tokenizerDir: string;
  steps: number;
  batchSize: number;
  lr: number;
  seqLen: number;
  seed: number;
  evalEvery: number;
  onStep?: (m: StepMetrics, total: number) => void;
  log: (msg: string) => void;
}

/** Opens the stage's run: resumed from its own checkpoint, or fresh from the previous stage's weights. */
function open(spec: AlignStageSpec, dataId: string, adamw?: { weightDecay: number }) {
  const resuming = hasCheckpoint(spec.runDir);
  const run = openRun({
    start: resuming
      ? { kind: 'resume', from: spec.runDir }
      : { kind: 'fresh', model: loadCheckpoint(spec.from).model },
    dataId,
    adamw,
  });
  if (run.state) spec.log(`   resuming at step ${run.state.step}`);
  return run;
}

/** MiniCPM's SFT schedule: WSD again (5% warmup, the last 10% decayed). */
function sftSchedule(lr: number, steps: number): ScheduleSpec {
  const decaySteps = Math.max(1, Math.round(0.1 * steps));
  return {
    kind: 'wsd',
    peak: lr,
    warmupSteps: Math.max(1, Math.round(0.05 * steps)),
    decayStart: steps - decaySteps,
    decay: 'exp',
    halfLife: Math.max(1, decaySteps / 5),
    decaySteps,
  };
}

export async function sftStage(
  spec: AlignStageSpec,
  tok: Tokenizer,
  train: readonly Conversation[],
  heldOut: readonly Conversation[],
): Promise<string> {
  const pad = tok.eosId >= 0 ? tok.eosId : 0;
  const r = sftExamples(tok, FORMAT, train, spec.seqLen);
  const held = sftExamples(tok, FORMAT, heldOut, spec.seqLen).examples;
  if (!held.length) throw new DemoError('no held-out conversation fits the SFT sequence length');
  spec.log(
    `   ${r.examples.length} conversations (${r.supervisedTokens} answer tokens), ${spec.steps} steps of ${spec.batchSize}; ` +
      `validation: ${held.length} held-out conversations`,
  );
  const validation = new ValidationSet(heldOutBatches(held, spec.batchSize, pad));
  const run = open(spec, 'demo sft conversations');
  await run.train(new SftBatches(r.examples, spec.batchSize, spec.seed, pad), {
    steps: spec.steps,
    schedule: sftSchedule(spec.lr, spec.steps),
    gradAccum: 1,
    runDir: spec.runDir,
    saveEvery: Math.max(1, Math.round(spec.steps / 4)),
    keepLast: 1,
    evalEvery: spec.evalEvery,
    validation,
    spikeFactor: 0,
    config: { stage: 'sft', from: spec.from, lr: spec.lr, batchSize: spec.batchSize, seqLen: spec.seqLen },
    phase: 'sft',
    tokenizerDir: spec.tokenizerDir,
    onStep: (m) => spec.onStep?.(m, spec.steps),
  });
  return resolveCheckpoint(spec.runDir);
}

/**
 * The reference log-probs of a DPO run: computed from the starting model before the first update and
 * saved with the run (atomically), then read back on every resume — a trained policy is no reference.
 */
function savedReference(
  file: string,
  resuming: boolean,
  compute: () => ReferenceLogProbs,
): ReferenceLogProbs {
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { chosen: number[]; rejected: number[] };
    return { chosen: Float64Array.from(saved.chosen), rejected: Float64Array.from(saved.rejected) };
  }
  if (resuming)
    throw new DemoError(
      `${file} is missing: the DPO run cannot be resumed; delete ${path.dirname(file)} to redo it`,
    );
  const ref = compute();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ chosen: [...ref.chosen], rejected: [...ref.rejected] }));
  fs.renameSync(tmp, file);
  return ref;
}

export async function dpoStage(
  spec: AlignStageSpec & { beta: number },
  tok: Tokenizer,
  train: readonly PreferencePair[],
  heldOut: readonly PreferencePair[],
): Promise<string> {
  const pad = tok.eosId >= 0 ? tok.eosId : 0;
  const pairs = dpoExamples(tok, FORMAT, train, spec.seqLen).pairs;
  const held = dpoExamples(tok, FORMAT, heldOut, spec.seqLen).pairs;
  if (!pairs.length || !held.length) throw new DemoError('no preference pair fits the DPO sequence length');
  const resuming = hasCheckpoint(spec.runDir);
  // as `minicpm dpo`: no weight decay (it would pull the policy away from the reference by itself)
  const run = open(spec, 'demo dpo pairs', { weightDecay: 0 });
  // the reference is the starting (SFT) model, scored before any update
  const ref = savedReference(path.join(spec.runDir, 'reference_logps.json'), resuming, () =>
    referenceLogProbs(run.model, pairs, spec.batchSize, pad),
  );
  const heldRef = savedReference(path.join(spec.runDir, 'reference_logps_eval.json'), resuming, () =>
    referenceLogProbs(run.model, held, spec.batchSize, pad),
  );
  spec.log(
    `   ${pairs.length} preference pairs, ${spec.steps} steps of ${spec.batchSize} pairs, β ${spec.beta}; validation: ${held.length} held-out pairs`,
  );
  const validation = new ValidationSet(heldOutPairBatches(held, heldRef, spec.batchSize, pad), 'rows');
  await run.train(new DpoBatches(pairs, ref, spec.batchSize, spec.seed, pad), {
    steps: spec.steps,
    schedule: { kind: 'cosine', peak: spec.lr, warmupSteps: 0, totalSteps: spec.steps },
    gradAccum: 1,
    runDir: spec.runDir,
    saveEvery: Math.max(1, Math.round(spec.steps / 4)),
    keepLast: 1,
    evalEvery: spec.evalEvery,
    validation,
    spikeFactor: 0,
    objective: dpoObjective({ beta: spec.beta, loss: 'sigmoid', labelSmoothing: 0 }),
    config: { stage: 'dpo', from: spec.from, lr: spec.lr, batchSize: spec.batchSize, beta: spec.beta },
    phase: 'dpo',
    tokenizerDir: spec.tokenizerDir,
    onStep: (m) => spec.onStep?.(m, spec.steps),
  });
  return resolveCheckpoint(spec.runDir);
}
