/**
 * Checkpoints of LoRA runs: the adapters only, as a PEFT folder (adapter_config.json +
 * adapter_model.safetensors, loadable by PEFT and by `--adapter`), plus their AdamW moments, the
 * training state and the dropout RNG, in the same atomic step-N layout as full checkpoints. The base
 * model is never copied: a resume reloads it from the run's --model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { copyTokenizerFiles } from '../io/hf-folder.js';
import { ADAPTER_CONFIG, peftTensorName, readPeftAdapter } from '../io/peft.js';
import { openSafetensorsSync, writeSafetensors } from '../io/safetensors.js';
import type { MiniCPM } from '../models/minicpm.js';
import { tensorToRecord, recordToTensor } from '../models/weights.js';
import type { LoraAdapters } from '../nn/lora.js';
import {
  checkpointTempFolder,
  commitCheckpoint,
  CheckpointError,
  resolveCheckpoint,
  type TrainerState,
} from '../train/checkpoint.js';
import { AdamW, adamwConfig, type AdamWConfig } from '../train/optimizer.js';
import type { RunTrainables } from '../train/run.js';
import { AlignError } from './errors.js';
import { adaptersFromFiles, attachLora, saveAdapter } from './lora.js';
import { checkLoraBase, loadLoraBase } from './lora-base.js';

/** Whether `dir` (a run or a checkpoint folder) holds an adapter checkpoint. */
export function isLoraCheckpoint(dir: string): boolean {
  try {
    return fs.existsSync(path.join(resolveCheckpoint(dir), ADAPTER_CONFIG));
  } catch {
    return false;
  }
}

/**
 * AdamW over the adapter matrices only, all at the base LR: LoRA's A and B are not μP hidden
 * matrices of the model's width, and PEFT trains them with one learning rate.
 */
export function loraAdamW(adapters: LoraAdapters, c: AdamWConfig): AdamW {
  return new AdamW(
    [{ name: 'LoRA adapters', params: adapters.parameters(), lrScale: 1, weightDecay: c.weightDecay }],
    c,
  );
}

/** The adapters as what a run trains (train/openRun): their optimizer and checkpoints. */
export function loraTrainables(
  adapters: LoraAdapters,
  adamw: Parameters<typeof adamwConfig>[0],
  o: LoraSaveOptions & { runDir: string },
): RunTrainables {
  return {
    optimizer: () => loraAdamW(adapters, adamwConfig(adamw)),
    save: (opt, state, pinned) => saveLoraCheckpoint(o.runDir, adapters, opt, state, pinned, o),
  };
}

export interface LoraSaveOptions {
  keepLast: number;
  tokenizerFrom?: string;
  /** Recorded as the adapter's base_model_name_or_path. */
  baseModel: string | null;
}

/** Saves the adapters, their moments and the state as RUN/checkpoints/step-N. */
export async function saveLoraCheckpoint(
  runDir: string,
  adapters: LoraAdapters,
  opt: AdamW,
  state: TrainerState,
  pinned: readonly number[],
  o: LoraSaveOptions,
): Promise<string> {
  const tmp = checkpointTempFolder(runDir, state.step);
  await saveAdapter(tmp, adapters, o.baseModel);
  const moments = [...adapters.modules].flatMap(([module, pair]) =>
    (['A', 'B'] as const).flatMap((w) => {
      const name = peftTensorName(module, w);
      const p = pair[w];
      return [tensorToRecord(`m.${name}`, opt.m.get(p)!), tensorToRecord(`v.${name}`, opt.v.get(p)!)];
    }),
  );
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
  if (o.tokenizerFrom) await copyTokenizerFiles(o.tokenizerFrom, tmp);
  fs.writeFileSync(
    path.join(tmp, 'trainer_state.json'),
    JSON.stringify({ ...state, optimizerStep: opt.step, loraRng: adapters.rng.getState() }, null, 1),
  );
  return commitCheckpoint(runDir, state.step, o.keepLast, pinned);
}

export interface LoadedLoraCheckpoint {
  model: MiniCPM;
  adapters: LoraAdapters;
  state: TrainerState & { optimizerStep: number };
  restoreOptimizer(opt: AdamW): void;
}

/** Reloads the base model named by the run's config and puts the checkpoint's adapters on it. */
export async function loadLoraCheckpoint(dir: string): Promise<LoadedLoraCheckpoint> {
  const ckpt = resolveCheckpoint(dir);
  const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'trainer_state.json'), 'utf8')) as TrainerState & {
    optimizerStep: number;
    loraRng?: (number | null)[];
  };
  const base = (state.config as { model?: unknown }).model;
  if (typeof base !== 'string' || !fs.existsSync(base))
    throw new AlignError(
      `${ckpt} is a LoRA checkpoint of the base model ${JSON.stringify(base)}, which is not there any more: put the base model back at that path`,
    );
  const loraBase = (state.config as { loraBase?: unknown }).loraBase;
  const model = await loadLoraBase(base, checkLoraBase(typeof loraBase === 'string' ? loraBase : 'f32'));
  const adapters = adaptersFromFiles(readPeftAdapter(ckpt));
  if (state.loraRng) adapters.rng.setState(state.loraRng.map((v) => v ?? NaN));
  attachLora(model, adapters, ckpt);
  return {
    model,
    adapters,
    state,
    restoreOptimizer(opt: AdamW) {
      const f = openSafetensorsSync(path.join(ckpt, 'optimizer.safetensors'));
      for (const [module, pair] of adapters.modules) {
        for (const w of ['A', 'B'] as const) {
          const name = peftTensorName(module, w);
          const p = pair[w];
          if (!f.has(`m.${name}`))
            throw new CheckpointError(`${ckpt}/optimizer.safetensors lacks the moments of ${name}`);
          (opt.m.get(p)!.data as Float32Array).set(recordToTensor(f.readSync(`m.${name}`)).data);
          (opt.v.get(p)!.data as Float32Array).set(recordToTensor(f.readSync(`v.${name}`)).data);
        }
      }
      opt.step = state.optimizerStep;
    },
  };
}
