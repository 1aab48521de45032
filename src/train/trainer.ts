/**
 * The training loop: gradient accumulation, scheduled LR, clipping and AdamW (optimizer.ts), metrics,
 * validation, divergence detection and periodic atomic checkpoints. One loop for every caller: the
 * CLI, the demo and every sandbox study run through `runTraining`.
 */
import { backward, scope, Tensor, zeroGrad } from '../tensor/index.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { BatchSource } from './batches.js';
import { saveCheckpoint, type TrainerState } from './checkpoint.js';
import { DivergenceError, TrainError } from './errors.js';
import { FP32_PEAK, trainFlopsPerToken } from './flops.js';
import { MetricsLog, type StepMetrics } from './metrics.js';
import type { AdamW } from './optimizer.js';
import { lrAt, type ScheduleSpec } from './schedules.js';
import { crossEntropyObjective, validate, type Objective, type ValidationSet } from './validation.js';

/**
 * What a micro-batch is trained on. The default is next-token cross-entropy (`model.loss`); alignment
 * objectives (DPO) plug in here and report their own statistics, averaged into the step's metrics.
 */
export { crossEntropyObjective, type Objective };

export interface TrainLoopOptions {
  /** Default: crossEntropyObjective. */
  objective?: Objective;
  /** Stop after this many optimizer steps in total (a resumed run continues up to it). */
  steps: number;
  schedule: ScheduleSpec;
  gradAccum: number;
  /** Batch-size schedule: micro-batches for a given step (overrides gradAccum), e.g. from --batch-schedule. */
  gradAccumAt?: (step: number) => number;
  runDir: string | null;
  /** Save every N steps (0: only at the end). */
  saveEvery: number;
  keepLast: number;
  /** Also checkpoint at these steps, and never prune them (branch points for decays). */
  keepSteps?: readonly number[];
  /** Validate every N steps and at the end (0: never). */
  evalEvery: number;
  /** The fixed held-out set scored at every evaluation (none: no validation). */
  validation?: ValidationSet;
  /** Bytes of text per token in the eval data, for bits-per-byte (0: not reported). */
  bytesPerToken?: number;
  /** Stop when loss > spikeFactor × its running mean (0 disables; NaN/Inf always stop). */
  spikeFactor: number;
  /** What the training data is (openRun's data rule), saved with every checkpoint. */
  dataId?: string;
  /** Resolved run config, saved with every checkpoint. */
  config: Record<string, unknown>;
  phase?: string;
  /** A tokenizer folder copied into every checkpoint. */
  tokenizerDir?: string;
  onStep?: (m: StepMetrics) => void;
  /** Writes a checkpoint in place of saveCheckpoint (e.g. LoRA: adapters only); returns its folder. */
  save?: (opt: AdamW, state: TrainerState, pinned: readonly number[]) => Promise<string>;
}

export interface TrainResult {
  state: TrainerState;
  metrics: StepMetrics[];
  checkpoint: string | null;
}

export async function runTraining(
  model: MiniCPM,
  opt: AdamW,
  source: BatchSource,
  o: TrainLoopOptions,
  start?: TrainerState,
): Promise<TrainResult> {
  const objective = o.objective ?? crossEntropyObjective;
  let step = start?.step ?? 0;
  let tokens = start?.tokens ?? 0;
  let ema = (start?.extra?.lossEma as number | undefined) ?? NaN;
  // A start without a cursor (a branch onto other data) begins the source's stream.
  if (start && start.data !== undefined) source.setState(start.data);
  const log = o.runDir ? new MetricsLog(o.runDir, step) : null;
  const metrics: StepMetrics[] = [];
  const t0 = performance.now();
  let checkpoint: string | null = null;
  const validation = o.validation?.describe();
  const saved = start?.extra?.validation as { fingerprint?: string } | undefined;
  // A resumed run must score the tokens its earlier evaluations scored, or its curve would not compare.
  if (validation && saved?.fingerprint && saved.fingerprint !== validation.fingerprint)
    throw new TrainError(
      `this run was validated on another held-out set (fingerprint ${saved.fingerprint}, now ${validation.fingerprint}): resume with the same data, --seq-len, --batch-size and --eval-batches`,
    );
  const state = (): TrainerState => ({
    step,
    tokens,
    data: source.state(),
    ...(o.dataId !== undefined ? { dataId: o.dataId } : {}),
    config: o.config,
    extra: { lossEma: ema, ...(validation ? { validation } : {}) },
  });

  while (step < o.steps) {
    const tStep = performance.now();
    const lr = lrAt(o.schedule, step);
    let lossSum = 0;
    const statSums: Record<string, number> = {};
    let stepTokens = 0;
    let seqLen = 0;
    const accum = o.gradAccumAt?.(step) ?? o.gradAccum;
    for (let micro = 0; micro < accum; micro++) {
      const batch = source.next();
      seqLen = batch.seqLen;
      stepTokens += batch.batch * batch.seqLen;
      lossSum += scope(() => {
        const { loss, stats } = objective(model, batch);
        backward(loss, Tensor.full([], 1 / accum));
        for (const [k, v] of Object.entries(stats ?? {})) statSums[k] = (statSums[k] ?? 0) + v;
        return loss.item();
      });
    }
    const loss = lossSum / accum;
    if (!Number.isFinite(loss)) {
      zeroGrad(opt.params());
      throw new DivergenceError(
        `loss became ${loss} at step ${step}: lower --lr or raise --warmup-steps; the last good checkpoint is kept`,
        step,
      );
    }
    if (o.spikeFactor > 0 && step >= 20 && loss > o.spikeFactor * ema) {
      zeroGrad(opt.params());
      throw new DivergenceError(
        `loss spiked to ${loss.toFixed(4)} at step ${step} (running mean ${ema.toFixed(4)}): lower --lr or pass --spike-factor 0; the last good checkpoint is kept`,
        step,
      );
    }
    ema = Number.isNaN(ema) ? loss : 0.9 * ema + 0.1 * loss;
    const gradNorm = opt.update(lr);
    // what the optimizer trains: the model's parameters, or a LoRA run's adapters
    zeroGrad(opt.params());
    step++;
    tokens += stepTokens;
    const dt = (performance.now() - tStep) / 1000;
    const tps = stepTokens / dt;
    const m: StepMetrics = {
      step: step - 1,
      loss,
      lr,
      grad_norm: gradNorm,
      tokens,
      tokens_per_s: tps,
      elapsed_s: (performance.now() - t0) / 1000,
      mfu: (tps * trainFlopsPerToken(model.config, seqLen)) / FP32_PEAK,
    };
    if (o.phase) m.phase = o.phase;
    const stats = Object.keys(statSums);
    if (stats.length) m.stats = Object.fromEntries(stats.map((k) => [k, statSums[k] / accum]));
    if (o.validation && o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      const v = validate(model, o.validation, objective);
      m.val_loss = v.loss;
      m.val_loss_se = v.stderr;
      if (v.stats) m.val_stats = v.stats;
      if (o.bytesPerToken) m.val_bpb = m.val_loss / Math.LN2 / o.bytesPerToken;
    }
    metrics.push(m);
    log?.append(m);
    o.onStep?.(m);
    const pinned = o.keepSteps ?? [];
    if (
      o.runDir &&
      ((o.saveEvery > 0 && step % o.saveEvery === 0) || step === o.steps || pinned.includes(step))
    ) {
      checkpoint = o.save
        ? await o.save(opt, state(), pinned)
        : await saveCheckpoint(o.runDir, model, opt, state(), o.keepLast, o.tokenizerDir, pinned);
    }
  }
  return { state: state(), metrics, checkpoint };
}
