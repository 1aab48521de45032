/**
 * MiniCPM-V folders and run checkpoints. A folder is what `loadMiniCPMV` reads back (config.json with an
 * explicit vision_config, model.safetensors with `llm.*`, `vpm.*` and `resampler.*` names); a checkpoint
 * adds the AdamW moments of what trains and the training state, in train/'s atomic step-N layout, so a
 * resume continues bit for bit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { copyTokenizerFiles } from '../io/hf-folder.js';
import { openSafetensorsSync, writeSafetensors } from '../io/safetensors.js';
import { configToHF } from '../models/config.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import type { MiniCPMVConfig } from '../models/minicpmv-config.js';
import { loadMiniCPMV } from '../models/minicpmv-load.js';
import { recordToTensor, tensorToRecord } from '../models/weights.js';
import type { Tensor } from '../tensor/index.js';
import {
  checkpointTempFolder,
  CheckpointError,
  commitCheckpoint,
  resolveCheckpoint,
  type LoadedCheckpoint,
  type TrainerState,
} from '../train/checkpoint.js';
import type { AdamW, adamwConfig } from '../train/optimizer.js';
import type { RunTrainables } from '../train/run.js';
import { imageSftAdamW } from './vlm-train.js';

/** config.json of a MiniCPM-V folder (the tower's shape written out; no block is dropped on load). */
export function minicpmvConfigToHF(c: MiniCPMVConfig): Record<string, unknown> {
  return {
    ...configToHF(c.llm),
    architectures: ['MiniCPMV'],
    model_type: 'minicpmv',
    query_num: c.queryNum,
    image_size: c.imageSize,
    drop_vision_last_layer: false,
    vision_config: {
      hidden_size: c.vision.hiddenSize,
      num_attention_heads: c.vision.numHeads,
      intermediate_size: c.vision.intermediateSize,
      num_hidden_layers: c.vision.numLayers,
      patch_size: c.vision.patchSize,
      image_size: c.vision.posGrid * c.vision.patchSize,
      layer_norm_eps: c.vision.layerNormEps,
    },
  };
}

/** Every parameter under its checkpoint name (`llm.` before the language model's). */
export function namedParameters(vlm: MiniCPMV): [string, Tensor][] {
  return [...[...vlm.llm.params].map(([n, t]): [string, Tensor] => [`llm.${n}`, t]), ...vlm.params];
}

/** Writes config.json, generation_config.json and model.safetensors (f32) into `dir`. */
export async function writeMiniCPMVFolder(dir: string, vlm: MiniCPMV, tokenizerFrom?: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(minicpmvConfigToHF(vlm.config), null, 1));
  fs.writeFileSync(
    path.join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: vlm.llm.config.bosTokenId, eos_token_id: vlm.llm.config.eosTokenId }),
  );
  await writeSafetensors(
    path.join(dir, 'model.safetensors'),
    namedParameters(vlm).map(([n, t]) => tensorToRecord(n, t)),
    { format: 'pt' },
  );
  if (tokenizerFrom) await copyTokenizerFiles(tokenizerFrom, dir);
}

export interface VlmSaveOptions {
  runDir: string;
  keepLast: number;
  tokenizerFrom?: string;
}

/** Saves the model, the moments of every trained parameter and the state as RUN/checkpoints/step-N. */
export async function saveVlmCheckpoint(
  vlm: MiniCPMV,
  opt: AdamW,
  state: TrainerState,
  pinned: readonly number[],
  o: VlmSaveOptions,
): Promise<string> {
  const tmp = checkpointTempFolder(o.runDir, state.step);
  await writeMiniCPMVFolder(tmp, vlm, o.tokenizerFrom);
  const moments = namedParameters(vlm).flatMap(([n, p]) => {
    const m = opt.m.get(p);
    const v = opt.v.get(p);
    return m && v ? [tensorToRecord(`m.${n}`, m), tensorToRecord(`v.${n}`, v)] : [];
  });
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
  fs.writeFileSync(
    path.join(tmp, 'trainer_state.json'),
    JSON.stringify({ ...state, optimizerStep: opt.step }, null, 1),
  );
  return commitCheckpoint(o.runDir, state.step, o.keepLast, pinned);
}

/** The run's optimizer (imageSftAdamW) and checkpoints (saveVlmCheckpoint), for train/openRun. */
export function imageSftTrainables(
  vlm: MiniCPMV,
  adamw: Parameters<typeof adamwConfig>[0],
  trainVision: boolean,
  save: VlmSaveOptions,
  trainLanguage = true,
  visionLrScale = 1,
  resamplerLrScale = 1,
): RunTrainables {
  return {
    optimizer: () => imageSftAdamW(vlm, adamw, trainVision, trainLanguage, visionLrScale, resamplerLrScale),
    save: (opt, state, pinned) => saveVlmCheckpoint(vlm, opt, state, pinned, save),
  };
}

export interface LoadedVlmCheckpoint extends LoadedCheckpoint {
  vlm: MiniCPMV;
}

/** A checkpoint's MiniCPM-V, state and moments (restored into an optimizer made by imageSftAdamW). */
export async function loadVlmCheckpoint(dir: string): Promise<LoadedVlmCheckpoint> {
  const ckpt = resolveCheckpoint(dir);
  const vlm = await loadMiniCPMV(ckpt);
  const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'trainer_state.json'), 'utf8')) as TrainerState & {
    optimizerStep: number;
  };
  return {
    vlm,
    model: vlm.llm,
    state,
    restoreOptimizer(opt: AdamW) {
      const f = openSafetensorsSync(path.join(ckpt, 'optimizer.safetensors'));
      for (const [n, p] of namedParameters(vlm)) {
        const m = opt.m.get(p);
        const v = opt.v.get(p);
        if (!m || !v) continue;
        if (!f.has(`m.${n}`))
          throw new CheckpointError(
            `${ckpt}/optimizer.safetensors lacks the moments of ${n}: resume with the --train-vision setting the run started with`,
          );
        (m.data as Float32Array).set(recordToTensor(f.readSync(`m.${n}`)).data);
        (v.data as Float32Array).set(recordToTensor(f.readSync(`v.${n}`)).data);
      }
      opt.step = state.optimizerStep;
    },
  };
}
