/**
 * Opening a training run, the one way every caller does it (`minicpm train`, `sft`, `dpo`, the demo, the
 * sandbox): fresh from a model, resumed from the run's own checkpoint, or branched from another run's
 * checkpoint (a WSD decay taken off a stable run). The optimizer is μP AdamW with ADAMW_DEFAULTS under
 * the caller's overrides; a resume or a branch restores its moments and step.
 *
 * The data rule, stated once: a resume continues its own cursor; a branch continues its parent's cursor
 * when it trains on the same data (same `dataId`, e.g. the same mixture), and starts the new data's
 * stream from its beginning otherwise.
 */
import type { MiniCPM } from '../models/minicpm.js';
import type { BatchSource } from './batches.js';
import { loadCheckpoint, resolveCheckpoint, type LoadedCheckpoint, type TrainerState } from './checkpoint.js';
import { TrainError } from './errors.js';
import { muPAdamW, type AdamW, type adamwConfig } from './optimizer.js';
import { runTraining, type TrainLoopOptions, type TrainResult } from './trainer.js';

export type RunStart =
  /** A new run from this model (freshly initialised, or loaded from a model folder). */
  | { kind: 'fresh'; model: MiniCPM }
  /**
   * Continue a run exactly: RUN (its latest checkpoint) or RUN/checkpoints/step-N. `loaded`: that
   * checkpoint as the caller opened it (e.g. LoRA adapters put on a base model it reloaded).
   */
  | { kind: 'resume'; from: string; loaded?: LoadedCheckpoint }
  /** A new run starting from another run's checkpoint (weights, moments, step). */
  | { kind: 'branch'; from: string; loaded?: LoadedCheckpoint };

/** What trains when it is not the model's own parameters (e.g. LoRA adapters on a frozen model). */
export interface RunTrainables {
  /** The optimizer over the trainables (instead of μP AdamW over the model). */
  optimizer(model: MiniCPM): AdamW;
  /** Writes a checkpoint of the trainables (instead of the whole model). */
  save: NonNullable<TrainLoopOptions['save']>;
}

export interface OpenRunOptions {
  start: RunStart;
  /** What the training data is (a mixture name, a data file's hash): decides whether a branch keeps the cursor. */
  dataId: string;
  /** AdamW hyperparameters over ADAMW_DEFAULTS. */
  adamw?: Parameters<typeof adamwConfig>[0];
  /** μP width multiplier of the hidden group (default: the model config's). */
  widthMultiplier?: (model: MiniCPM) => number;
  trainables?: RunTrainables;
}

export interface OpenedRun {
  kind: RunStart['kind'];
  model: MiniCPM;
  opt: AdamW;
  dataId: string;
  /** The state training continues from (none for a fresh run). */
  state?: TrainerState;
  /** The checkpoint folder a resume or branch was opened from. */
  from?: string;
  /** For a branch: whether the parent's data cursor was kept (same data) or the stream starts fresh. */
  continuesData?: boolean;
  /**
   * Runs the training loop on `source` (the data `dataId` names); the loop records `dataId` with every
   * checkpoint. The model and optimizer are there before the data, so callers may use the model to
   * build it (e.g. DPO's reference log-probs).
   */
  train(source: BatchSource, o: Omit<TrainLoopOptions, 'dataId'>): Promise<TrainResult>;
}

/** Checkpoints saved before `dataId` was recorded name their data by the run config's mixture. */
function legacyDataId(state: TrainerState): string | undefined {
  const mixture = (state.config as { mixture?: unknown } | undefined)?.mixture;
  return typeof mixture === 'string' ? `mixture:${mixture}` : undefined;
}

/** Opens a run; a checkpoint that trained on other data than `dataId` cannot be resumed (branch instead). */
export function openRun(o: OpenRunOptions): OpenedRun {
  let model: MiniCPM;
  let state: TrainerState | undefined;
  let from: string | undefined;
  let continuesData: boolean | undefined;
  let restore: ((opt: AdamW) => void) | undefined;
  if (o.start.kind === 'fresh') {
    model = o.start.model;
  } else {
    from = resolveCheckpoint(o.start.from);
    const ck = o.start.loaded ?? loadCheckpoint(from);
    model = ck.model;
    restore = (opt) => ck.restoreOptimizer(opt);
    const saved = ck.state.dataId ?? legacyDataId(ck.state);
    if (o.start.kind === 'resume') {
      if (saved !== undefined && saved !== o.dataId)
        throw new TrainError(
          `${from} trained on "${saved}", not "${o.dataId}": resume with the same data, or branch a new run from it`,
        );
      state = ck.state;
    } else {
      continuesData = saved === o.dataId;
      // A branch is a new run: its parent's validation set and loss average are not its own.
      const extra = { ...ck.state.extra };
      delete extra.validation;
      // data undefined: the loop leaves the new source at its start
      state = { ...ck.state, data: continuesData ? ck.state.data : undefined, dataId: o.dataId, extra };
    }
  }
  const opt = o.trainables?.optimizer(model) ?? muPAdamW(model, o.adamw, o.widthMultiplier?.(model));
  restore?.(opt);
  return {
    kind: o.start.kind,
    model,
    opt,
    dataId: o.dataId,
    state,
    from,
    continuesData,
    train: (source, loop) =>
      runTraining(model, opt, source, { ...loop, dataId: o.dataId, save: o.trainables?.save }, state),
  };
}
