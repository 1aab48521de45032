/**
 * LoRA on a MiniCPM-V (`minicpm sft --lora` on a MiniCPM-V folder): adapters on the language model's
 * target linears (vlm.llm, frozen), the resampler trained fully as MiniCPM-V's own LoRA fine-tuning does,
 * the vision tower frozen unless --train-vision. A checkpoint holds the adapters as a PEFT folder named as
 * PEFT names them when the whole MiniCPMV is wrapped (get_peft_model on the model, as MiniCPM-V's
 * finetune.py does): base_model.model.llm.model.layers.N.self_attn.q_proj.lora_A.weight; the trained vision
 * side (resampler, tower with --train-vision) as vision.safetensors under its folder names; the AdamW
 * moments of both; the state and the dropout stream. The base model is never copied: a resume reloads it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { copyTokenizerFiles } from '../io/hf-folder.js';
import { peftTensorName, readPeftAdapter, writePeftAdapter, type PeftAdapterFiles } from '../io/peft.js';
import { openSafetensorsSync, writeSafetensors } from '../io/safetensors.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { loadMiniCPMV } from '../models/minicpmv-load.js';
import { recordToTensor, tensorToRecord } from '../models/weights.js';
import type { LoraAdapters, LoraConfig } from '../nn/lora.js';
import { f32ToBf16, type Tensor } from '../tensor/index.js';
import {
  checkpointTempFolder,
  CheckpointError,
  commitCheckpoint,
  resolveCheckpoint,
  type LoadedCheckpoint,
  type TrainerState,
} from '../train/checkpoint.js';
import { AdamW, adamwConfig } from '../train/optimizer.js';
import type { RunTrainables } from '../train/run.js';
import { AlignError } from './errors.js';
import { adaptersFromFiles, AdapterMismatchError, attachLora, initLora } from './lora.js';
import { visionTrainables } from './vlm-train.js';

/** The language model's module path inside MiniCPMV (its `llm` attribute). */
const LLM = 'llm.';
/** The trained vision-side weights of a LoRA checkpoint. */
export const VISION_WEIGHTS = 'vision.safetensors';

/** Fresh adapters (PEFT initialisation) on vlm.llm's targeted linears; the language model frozen. */
export function initVlmLora(vlm: MiniCPMV, config: LoraConfig, seed: number): LoraAdapters {
  return initLora(vlm.llm, config, seed);
}

/** AdamW over the adapters and the resampler (and tower), all at the base LR: none is a μP hidden matrix. */
export function vlmLoraAdamW(
  vlm: MiniCPMV,
  adapters: LoraAdapters,
  over: Parameters<typeof adamwConfig>[0],
  trainVision: boolean,
): AdamW {
  const c = adamwConfig(over);
  return new AdamW(
    [
      { name: 'LoRA adapters', params: adapters.parameters(), lrScale: 1, weightDecay: c.weightDecay },
      {
        name: trainVision ? 'resampler and vision tower (lr)' : 'resampler (lr)',
        params: [...visionTrainables(vlm, trainVision).values()],
        lrScale: 1,
        weightDecay: c.weightDecay,
      },
    ],
    c,
  );
}

export interface VlmLoraSaveOptions {
  runDir: string;
  keepLast: number;
  tokenizerFrom?: string;
  /** Recorded as the adapter's base_model_name_or_path. */
  baseModel: string | null;
}

/** Every trained tensor under its checkpoint name: PEFT names for the adapters, folder names for the rest. */
function trainedTensors(vlm: MiniCPMV, adapters: LoraAdapters, trainVision: boolean): [string, Tensor][] {
  return [
    ...[...adapters.modules].flatMap(([m, p]): [string, Tensor][] => [
      [peftTensorName(LLM + m, 'A'), p.A],
      [peftTensorName(LLM + m, 'B'), p.B],
    ]),
    ...visionTrainables(vlm, trainVision),
  ];
}

/** Saves adapters, vision-side weights, moments and state as RUN/checkpoints/step-N. */
export async function saveVlmLoraCheckpoint(
  vlm: MiniCPMV,
  adapters: LoraAdapters,
  trainVision: boolean,
  opt: AdamW,
  state: TrainerState,
  pinned: readonly number[],
  o: VlmLoraSaveOptions,
): Promise<string> {
  const tmp = checkpointTempFolder(o.runDir, state.step);
  const modules = [...adapters.modules].map(
    ([m, { A, B }]) => [LLM + m, { A: tensorToRecord(m, A), B: tensorToRecord(m, B) }] as const,
  );
  await writePeftAdapter(tmp, adapters.config, modules, o.baseModel);
  await writeSafetensors(
    path.join(tmp, VISION_WEIGHTS),
    [...visionTrainables(vlm, trainVision)].map(([n, t]) => tensorToRecord(n, t)),
    { format: 'pt' },
  );
  const moments = trainedTensors(vlm, adapters, trainVision).flatMap(([n, p]) => [
    tensorToRecord(`m.${n}`, opt.m.get(p)!),
    tensorToRecord(`v.${n}`, opt.v.get(p)!),
  ]);
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
  if (o.tokenizerFrom) await copyTokenizerFiles(o.tokenizerFrom, tmp);
  fs.writeFileSync(
    path.join(tmp, 'trainer_state.json'),
    JSON.stringify({ ...state, optimizerStep: opt.step, loraRng: adapters.rng.getState() }, null, 1),
  );
  return commitCheckpoint(o.runDir, state.step, o.keepLast, pinned);
}

/** The adapters and the resampler (and tower) as what a run trains (train/openRun). */
export function vlmLoraTrainables(
  vlm: MiniCPMV,
  adapters: LoraAdapters,
  adamw: Parameters<typeof adamwConfig>[0],
  trainVision: boolean,
  o: VlmLoraSaveOptions,
): RunTrainables {
  return {
    optimizer: () => vlmLoraAdamW(vlm, adapters, adamw, trainVision),
    save: (opt, state, pinned) => saveVlmLoraCheckpoint(vlm, adapters, trainVision, opt, state, pinned, o),
  };
}

/** The PEFT files' modules with MiniCPMV's `llm.` prefix taken off (the names vlm.llm's hook sees). */
function languageModules(files: PeftAdapterFiles, source: string): PeftAdapterFiles {
  const modules: PeftAdapterFiles['modules'] = new Map();
  for (const [m, pair] of files.modules) {
    if (!m.startsWith(LLM))
      throw new AdapterMismatchError(
        `${source} adapts ${m}, which is not a module of a MiniCPM-V's language model (llm.…): only its linears take adapters`,
      );
    modules.set(m.slice(LLM.length), pair);
  }
  return { settings: files.settings, modules };
}

/** Whether `dir` (a run or a checkpoint folder) is a MiniCPM-V LoRA checkpoint. */
export function isVlmLoraCheckpoint(dir: string): boolean {
  try {
    return fs.existsSync(path.join(resolveCheckpoint(dir), VISION_WEIGHTS));
  } catch {
    return false;
  }
}

/** Copies a checkpoint's vision-side weights into `vlm` (f32 or bf16 parameters, contiguous). */
function putVisionWeights(vlm: MiniCPMV, file: string): void {
  const f = openSafetensorsSync(file);
  for (const name of f.names()) {
    const p = vlm.params.get(name);
    const r = recordToTensor(f.readSync(name));
    if (!p || p.size !== r.size || !p.isContiguous())
      throw new AdapterMismatchError(
        `${file}: ${name} does not fit this MiniCPM-V: use the checkpoint with the base model it was trained on`,
      );
    const src = r.data as Float32Array;
    if (p.dtype === 'bf16') {
      const bits = p.data as Uint16Array;
      for (let i = 0; i < src.length; i++) bits[p.offset + i] = f32ToBf16(src[i]);
    } else (p.data as Float32Array).set(src, p.offset);
    r.dispose();
  }
}

/**
 * Puts an adapter folder on a MiniCPM-V: its LoRA pairs (modules under llm.) on vlm.llm and, for a
 * checkpoint of `sft --lora` on a MiniCPM-V, the resampler (and tower) weights it trained.
 */
export function loadVlmAdapter(dir: string, vlm: MiniCPMV): LoraAdapters {
  const vision = path.join(dir, VISION_WEIGHTS);
  if (fs.existsSync(vision)) putVisionWeights(vlm, vision);
  const adapters = adaptersFromFiles(languageModules(readPeftAdapter(dir), dir));
  attachLora(vlm.llm, adapters, dir);
  return adapters;
}

export interface LoadedVlmLoraCheckpoint extends LoadedCheckpoint {
  vlm: MiniCPMV;
  adapters: LoraAdapters;
}

/**
 * Reloads the run's base MiniCPM-V (config.model), puts the checkpoint's vision-side weights into it and
 * its adapters on vlm.llm; restoreOptimizer expects an optimizer made by vlmLoraAdamW.
 */
export async function loadVlmLoraCheckpoint(
  dir: string,
  trainVision: boolean,
): Promise<LoadedVlmLoraCheckpoint> {
  const ckpt = resolveCheckpoint(dir);
  const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'trainer_state.json'), 'utf8')) as TrainerState & {
    optimizerStep: number;
    loraRng?: (number | null)[];
  };
  const base = (state.config as { model?: unknown }).model;
  if (typeof base !== 'string' || !fs.existsSync(base))
    throw new AlignError(
      `${ckpt} is a LoRA checkpoint of the MiniCPM-V ${JSON.stringify(base)}, which is not there any more: put the base model back at that path`,
    );
  const vlm = await loadMiniCPMV(base);
  const adapters = loadVlmAdapter(ckpt, vlm);
  if (state.loraRng) adapters.rng.setState(state.loraRng.map((v) => v ?? NaN));
  return {
    vlm,
    adapters,
    model: vlm.llm,
    state,
    restoreOptimizer(opt: AdamW) {
      const f = openSafetensorsSync(path.join(ckpt, 'optimizer.safetensors'));
      for (const [n, p] of trainedTensors(vlm, adapters, trainVision)) {
        if (!f.has(`m.${n}`))
          throw new CheckpointError(
            `${ckpt}/optimizer.safetensors lacks the moments of ${n}: resume with the --train-vision setting the run started with`,
          );
        (opt.m.get(p)!.data as Float32Array).set(recordToTensor(f.readSync(`m.${n}`)).data);
        (opt.v.get(p)!.data as Float32Array).set(recordToTensor(f.readSync(`v.${n}`)).data);
      }
      opt.step = state.optimizerStep;
    },
  };
}
