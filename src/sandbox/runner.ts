/**
 * One sandbox training run, described by a RunSpec and executed through the training machinery
 * (runTraining, μP AdamW groups, schedules, checkpoints): fresh, resumed from its own last checkpoint,
 * or branched from another run's pinned checkpoint (a WSD decay taken off a stable run). The registry
 * records status, curve and result, so a finished run is never trained twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PackedLoader } from '../data/loader.js';
import { nonEmbeddingParams } from '../models/presets.js';
import type { MiniCPM } from '../models/minicpm.js';
import { checkpointAt, hasCheckpoint, pruneCheckpoints } from '../train/checkpoint.js';
import { DivergenceError } from '../train/errors.js';
import { trainFlopsPerToken } from '../train/flops.js';
import type { StepMetrics } from '../train/metrics.js';
import { openRun, type OpenedRun, type RunStart } from '../train/run.js';
import type { ScheduleSpec } from '../train/schedules.js';
import type { FixedEvalSet } from './eval-set.js';
import { initModel, optimizerMultiplier, runConfig, SandboxError, type ModelSpec } from './micro-model.js';
import type { CurvePoint, Registry, RunRow } from './registry.js';

export interface RunSpec {
  model: ModelSpec;
  schedule: ScheduleSpec;
  /** Total optimizer steps (for a branch: the step it ends at, counted from the parent's start). */
  steps: number;
  /** Sequences per optimizer step (split into micro-batches of at most the sandbox's microBatch). */
  batchSize: number;
  seqLen: number;
  mixture: string;
  dataSeed: number;
  initSeed: number;
  weightDecay: number;
  /** Held-out loss every N steps (and at the end). */
  evalEvery: number;
  /** Checkpoints kept after the run (branch points). */
  keepSteps?: number[];
  /** Keep the final checkpoint (for studies that evaluate the model afterwards). */
  keepFinal?: boolean;
  /** Start from run `from`'s checkpoint at `step`; `mixture` differs → a fresh data stream. */
  branch?: { from: string; step: number };
}

export interface RunResult {
  status: 'done' | 'diverged';
  /** Held-out loss at the end (null when diverged). */
  valLoss: number | null;
  /** Mean training loss over the last 10% of steps. */
  trainLoss: number;
  steps: number;
  tokens: number;
  nonEmbeddingParams: number;
  /** Training FLOPs (6·N·D with N non-embedding, MiniCPM's accounting). */
  compute: number;
  seconds: number;
  divergedAt?: number;
}

export interface RunContext {
  registry: Registry;
  study: string;
  /** Where the study's run folders go. */
  dir: string;
  shardsDir: string;
  tokenizerDir: string;
  vocabSize: number;
  evalSet: FixedEvalSet;
  microBatch: number;
  log: (msg: string) => void;
  /** Stops the current run after its next step (Ctrl-C): it resumes from its last checkpoint. */
  signal?: AbortSignal;
}

/** A run stopped on request; rerunning the study resumes it from its last checkpoint. */
export class RunInterrupted extends Error {
  constructor(
    readonly run: string,
    readonly step: number,
  ) {
    super(`run ${run} interrupted after step ${step}; rerun the same command to resume it`);
    this.name = 'RunInterrupted';
  }
}

export function runDirOf(ctx: RunContext, name: string): string {
  return path.join(ctx.dir, 'runs', name);
}

/** The folder of run `name`'s checkpoint at `step` (it must have been pinned with keepSteps). */
export function checkpointOf(ctx: RunContext, name: string, step: number): string {
  return checkpointAt(runDirOf(ctx, name), step);
}

/** The run's start: its own checkpoint (resume), a parent's pinned checkpoint (branch), or a fresh model. */
function openSandboxRun(ctx: RunContext, name: string, spec: RunSpec): OpenedRun {
  const dir = runDirOf(ctx, name);
  let start: RunStart;
  if (hasCheckpoint(dir)) {
    start = { kind: 'resume', from: dir };
  } else if (spec.branch) {
    const at = checkpointOf(ctx, spec.branch.from, spec.branch.step);
    if (!ctx.registry.run(ctx.study, spec.branch.from) || !fs.existsSync(at))
      throw new SandboxError(
        `run ${name} branches from ${spec.branch.from} at step ${spec.branch.step}, but that checkpoint is missing (${at}); rerun the study with --fresh`,
      );
    start = { kind: 'branch', from: at };
  } else {
    start = { kind: 'fresh', model: initModel(spec.model, ctx.vocabSize, spec.initSeed).model };
  }
  const run = openRun({
    start,
    // Same mixture as the parent: continue its stream; another mixture: start that mixture's stream.
    dataId: `mixture:${spec.mixture}`,
    adamw: { weightDecay: spec.weightDecay },
    widthMultiplier: (model) => optimizerMultiplier(spec.model, model.config),
  });
  if (run.kind === 'resume') ctx.log(`   ${name}: resuming at step ${run.state!.step}`);
  return run;
}

function resultOf(spec: RunSpec, model: MiniCPM, curve: CurvePoint[], seconds: number): RunResult {
  const last = curve[curve.length - 1];
  const tail = curve.slice(Math.floor(curve.length * 0.9));
  const n = nonEmbeddingParams(model.config);
  const tokens = last?.tokens ?? 0;
  const evals = curve.filter((p) => p.valLoss !== null);
  return {
    status: 'done',
    valLoss: evals[evals.length - 1]?.valLoss ?? null,
    trainLoss: tail.reduce((s, p) => s + p.loss, 0) / Math.max(1, tail.length),
    steps: spec.steps,
    tokens,
    nonEmbeddingParams: n,
    compute: 6 * n * tokens,
    seconds,
  };
}

/** Trains run `name` unless the registry has it finished; returns its result and registry row. */
export async function executeRun(
  ctx: RunContext,
  name: string,
  spec: RunSpec,
): Promise<{ row: RunRow; result: RunResult }> {
  const dir = runDirOf(ctx, name);
  let row = ctx.registry.ensureRun(ctx.study, name, spec as unknown as Record<string, unknown>, dir);
  if (row.status === 'done' || row.status === 'diverged')
    return { row, result: row.result as unknown as RunResult };
  if (spec.batchSize % Math.min(spec.batchSize, ctx.microBatch) !== 0)
    throw new SandboxError(
      `run ${name}: batch ${spec.batchSize} is not a multiple of the micro-batch ${ctx.microBatch}`,
    );
  const micro = Math.min(spec.batchSize, ctx.microBatch);
  const source = new PackedLoader({
    shardsDir: ctx.shardsDir,
    split: 'train',
    seqLen: spec.seqLen,
    batchSize: micro,
    seed: spec.dataSeed,
    mixture: spec.mixture,
  });
  const start = openSandboxRun(ctx, name, spec);
  ctx.registry.markRunning(row.id);
  const t0 = performance.now();
  const pending: CurvePoint[] = [];
  const flush = (): void => {
    ctx.registry.addPoints(row.id, pending.splice(0));
  };
  const pinned = [...(spec.keepSteps ?? [])];
  const keep = new Set(pinned);
  if (spec.keepFinal) keep.add(spec.steps);
  const modelConfig = runConfig(spec.model, ctx.vocabSize);
  const perStep = trainFlopsPerToken(modelConfig, spec.seqLen) * spec.batchSize * spec.seqLen;
  const everyLog = Math.max(1, Math.round(spec.steps / 10));
  try {
    await start.train(source, {
      steps: spec.steps,
      schedule: spec.schedule,
      gradAccum: spec.batchSize / micro,
      runDir: dir,
      saveEvery: Math.max(25, Math.round(spec.steps / 8)),
      keepLast: 1,
      keepSteps: pinned,
      evalEvery: spec.evalEvery,
      validation: ctx.evalSet,
      spikeFactor: 3,
      config: { ...spec },
      phase: spec.branch ? 'branch' : undefined,
      onStep: (m: StepMetrics) => {
        pending.push({
          step: m.step + 1,
          tokens: m.tokens,
          loss: m.loss,
          valLoss: m.val_loss ?? null,
          lr: m.lr,
        });
        if (m.val_loss !== undefined) flush();
        if (ctx.signal?.aborted) throw new RunInterrupted(name, m.step + 1);
        if ((m.step + 1) % everyLog === 0)
          ctx.log(
            `   ${name}: step ${m.step + 1}/${spec.steps} loss ${m.loss.toFixed(3)}${m.val_loss !== undefined ? ` val ${m.val_loss.toFixed(3)}` : ''} (${((m.tokens_per_s * perStep) / (spec.batchSize * spec.seqLen) / 1e9).toFixed(0)} GFLOP/s)`,
          );
      },
    });
  } catch (e) {
    flush();
    if (e instanceof RunInterrupted) {
      ctx.registry.finishRun(row.id, 'pending', null, e.message);
      throw e;
    }
    if (!(e instanceof DivergenceError)) {
      ctx.registry.finishRun(row.id, 'failed', null, (e as Error).message);
      throw e;
    }
    const curve = ctx.registry.curve(row.id);
    const result: RunResult = {
      ...resultOf(spec, start.model, curve, (performance.now() - t0) / 1000),
      status: 'diverged',
      valLoss: null,
      divergedAt: e.step,
    };
    ctx.registry.finishRun(row.id, 'diverged', result, e.message);
    for (const p of start.model.parameters()) p.dispose();
    pruneCheckpoints(dir, new Set());
    ctx.log(`   ${name}: diverged at step ${e.step}`);
    return { row: ctx.registry.run(ctx.study, name)!, result };
  } finally {
    source.close();
  }
  flush();
  const result = resultOf(spec, start.model, ctx.registry.curve(row.id), (performance.now() - t0) / 1000);
  for (const p of start.model.parameters()) p.dispose();
  ctx.registry.finishRun(row.id, 'done', result);
  pruneCheckpoints(dir, keep);
  row = ctx.registry.run(ctx.study, name)!;
  ctx.log(`   ${name}: done, held-out loss ${result.valLoss?.toFixed(4) ?? '—'}`);
  return { row, result };
}
