/**
 * Training checkpoints: a Hugging Face folder (config.json + model.safetensors) plus the training
 * state (optimizer moments, step, RNG, data cursor, resolved config). A checkpoint is written to a
 * temporary folder and renamed into place, and `latest` is switched only afterwards, so a kill at any
 * moment leaves the previous checkpoint intact and findable.
 */
import fs from 'node:fs';
import path from 'node:path';
import { copyTokenizerFiles } from '../io/hf-folder.js';
import { openSafetensorsSync, writeSafetensors } from '../io/safetensors.js';
import { configFromHF, configToHF } from '../models/config.js';
import { MiniCPM } from '../models/minicpm.js';
import { loadParameters, recordToTensor, tensorToRecord } from '../models/weights.js';
import type { AdamW } from './optimizer.js';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  tokens: number;
  /** Data cursor of the batch source (opaque JSON). */
  data: unknown;
  /** The data stream the cursor belongs to (e.g. a mixture name): a branch continues it only on the same data. */
  dataId?: string;
  /** The resolved run configuration. */
  config: Record<string, unknown>;
  /** Extra bookkeeping (e.g. loss EMA for spike detection). */
  extra?: Record<string, unknown>;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, JSON.stringify(value, null, 1));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/*
 * The layout of a run folder, owned here:
 *   RUN/checkpoints/step-00000550/   a complete Hugging Face folder + optimizer.safetensors + trainer_state.json
 *   RUN/checkpoints/latest.json      {"name": "step-…"}: switched only after a checkpoint is complete
 *   RUN/checkpoints/step-….tmp-PID/  a save in progress (garbage once a newer checkpoint exists)
 */
export function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

export function checkpointsDir(runDir: string): string {
  return path.join(runDir, 'checkpoints');
}

/** The folder of a run's checkpoint at `step` (present only if it was saved and not pruned). */
export function checkpointAt(runDir: string, step: number): string {
  return path.join(checkpointsDir(runDir), stepDirName(step));
}

/** Whether the run folder has a complete checkpoint to resume from. */
export function hasCheckpoint(runDir: string): boolean {
  return fs.existsSync(path.join(checkpointsDir(runDir), 'latest.json'));
}

/** The run folder a run folder or one of its checkpoint folders belongs to. */
export function runDirOf(dir: string): string {
  const ckpt = resolveCheckpoint(dir);
  return path.resolve(ckpt) === path.resolve(dir) ? path.dirname(path.dirname(ckpt)) : dir;
}

/** Removes every checkpoint of a finished run except `keepSteps`, and `latest` (nothing resumes it). */
export function pruneCheckpoints(runDir: string, keepSteps: Iterable<number>): void {
  const root = checkpointsDir(runDir);
  if (!fs.existsSync(root)) return;
  const keep = new Set([...keepSteps].map(stepDirName));
  for (const d of fs.readdirSync(root))
    if (/^step-\d+/.test(d) && !keep.has(d)) fs.rmSync(path.join(root, d), { recursive: true, force: true });
  fs.rmSync(path.join(root, 'latest.json'), { force: true });
}

/** Saves model + optimizer + state as RUN/checkpoints/step-N and points RUN/checkpoints/latest at it. */
export async function saveCheckpoint(
  runDir: string,
  model: MiniCPM,
  opt: AdamW,
  state: TrainerState,
  keepLast = 2,
  tokenizerFrom?: string,
  /** Steps whose checkpoints are never pruned (e.g. stable checkpoints that decays branch from). */
  pinned: readonly number[] = [],
): Promise<string> {
  const tmp = checkpointTempFolder(runDir, state.step);
  writeJsonAtomic(path.join(tmp, 'config.json'), configToHF(model.config));
  writeJsonAtomic(path.join(tmp, 'generation_config.json'), {
    bos_token_id: model.config.bosTokenId,
    eos_token_id: model.config.eosTokenId,
  });
  await writeSafetensors(
    path.join(tmp, 'model.safetensors'),
    [...model.params].map(([n, t]) => tensorToRecord(n, t)),
    { format: 'pt' },
  );
  const moments = [...model.params].flatMap(([n, p]) => {
    const m = opt.m.get(p);
    const v = opt.v.get(p);
    return m && v ? [tensorToRecord(`m.${n}`, m), tensorToRecord(`v.${n}`, v)] : [];
  });
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
  // The tokenizer travels with the weights so that a checkpoint is a complete Hugging Face folder.
  if (tokenizerFrom) await copyTokenizerFiles(tokenizerFrom, tmp);
  writeJsonAtomic(path.join(tmp, 'trainer_state.json'), { ...state, optimizerStep: opt.step });
  return commitCheckpoint(runDir, state.step, keepLast, pinned);
}

/** An empty temporary folder for the checkpoint of `step` (commitCheckpoint moves it into place). */
export function checkpointTempFolder(runDir: string, step: number): string {
  const root = checkpointsDir(runDir);
  fs.mkdirSync(root, { recursive: true });
  const tmp = path.join(root, `${stepDirName(step)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  return tmp;
}

/** Renames the written temporary folder into place, points `latest` at it, then prunes old ones. */
export function commitCheckpoint(
  runDir: string,
  step: number,
  keepLast: number,
  pinned: readonly number[],
): string {
  const root = path.join(runDir, 'checkpoints');
  const name = stepDirName(step);
  const final = path.join(root, name);
  const tmp = path.join(root, `${name}.tmp-${process.pid}`);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  writeJsonAtomic(path.join(root, 'latest.json'), { name });
  // Older checkpoints go only after `latest` points at the new one.
  const entries = fs.readdirSync(root);
  // Temp folders left by a killed save are garbage once a newer checkpoint is complete.
  for (const d of entries)
    if (/^step-\d+\.tmp-/.test(d)) fs.rmSync(path.join(root, d), { recursive: true, force: true });
  const keep = new Set(pinned.map(stepDirName));
  const all = entries.filter((d) => /^step-\d+$/.test(d) && !keep.has(d)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keepLast)))
    fs.rmSync(path.join(root, old), { recursive: true, force: true });
  return final;
}

/** Resolves a run folder or a checkpoint folder to the checkpoint folder. */
export function resolveCheckpoint(dir: string): string {
  if (fs.existsSync(path.join(dir, 'trainer_state.json'))) return dir;
  const latest = path.join(checkpointsDir(dir), 'latest.json');
  if (!fs.existsSync(latest))
    throw new CheckpointError(
      `${dir} holds no checkpoint (no trainer_state.json and no checkpoints/latest.json)`,
    );
  const { name } = JSON.parse(fs.readFileSync(latest, 'utf8')) as { name: string };
  return path.join(checkpointsDir(dir), name);
}

/** The training state of a run's latest checkpoint (or of a checkpoint folder), without its weights. */
export function readTrainerState(dir: string): LoadedCheckpoint['state'] {
  const file = path.join(resolveCheckpoint(dir), 'trainer_state.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LoadedCheckpoint['state'];
  } catch (e) {
    throw new CheckpointError(
      `${file} is unreadable (${(e as Error).message}): resume from another checkpoint`,
    );
  }
}

export interface LoadedCheckpoint {
  model: MiniCPM;
  state: TrainerState & { optimizerStep: number };
  /** Copies the saved moments into `opt` (whose parameters must be `model`'s). */
  restoreOptimizer(opt: AdamW): void;
}

export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const ckpt = resolveCheckpoint(dir);
  const config = configFromHF(
    JSON.parse(fs.readFileSync(path.join(ckpt, 'config.json'), 'utf8')) as Record<string, unknown>,
  );
  const model = loadParameters(config, openSafetensorsSync(path.join(ckpt, 'model.safetensors')));
  const state = readTrainerState(ckpt);
  return {
    model,
    state,
    restoreOptimizer(opt: AdamW) {
      const f = openSafetensorsSync(path.join(ckpt, 'optimizer.safetensors'));
      for (const [n, p] of model.params) {
        const m = opt.m.get(p);
        const v = opt.v.get(p);
        if (!m || !v) continue;
        if (!f.has(`m.${n}`))
          throw new CheckpointError(`${ckpt}/optimizer.safetensors lacks the moments of ${n}`);
        (m.data as Float32Array).set(recordToTensor(f.readSync(`m.${n}`)).data);
        (v.data as Float32Array).set(recordToTensor(f.readSync(`v.${n}`)).data);
      }
      opt.step = state.optimizerStep;
    },
  };
}
