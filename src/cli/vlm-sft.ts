/**
 * `minicpm sft` on a MiniCPM-V model (SPEC §10, training): records with images, the resampler and the
 * language model trained (the vision tower too with --train-vision) through the common loop (openRun:
 * μP AdamW, schedule, atomic checkpoints, exact resume); with --lora, adapters on the language model and the
 * resampler train (align/vlm-lora.ts). align-commands.ts routes here when --model (or
 * the run being resumed) is a MiniCPM-V folder; the vision-language demo calls runImageSft directly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AlignError } from '../align/errors.js';
import { useLayerCheckpoints } from '../align/lora.js';
import {
  heldOutImageBatches,
  imageSftExamples,
  ImageSftBatches,
  readImageConversations,
  type ImageExample,
} from '../align/vlm-examples.js';
import { imageSftTrainables, loadVlmCheckpoint, minicpmvConfigToHF } from '../align/vlm-checkpoint.js';
import {
  initVlmLora,
  isVlmLoraCheckpoint,
  loadVlmLoraCheckpoint,
  vlmLoraTrainables,
} from '../align/vlm-lora.js';
import { ImageStore, imageSftObjective } from '../align/vlm-train.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { isMiniCPMVConfig, loadMiniCPMV } from '../models/minicpmv-load.js';
import { parseLoraSpec, type LoraAdapters } from '../nn/lora.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { readTrainerState, resolveCheckpoint, runDirOf } from '../train/checkpoint.js';
import type { StepMetrics } from '../train/metrics.js';
import { openRun } from '../train/run.js';
import { scheduleFrom } from '../train/schedules.js';
import { ValidationSet } from '../train/validation.js';
import { progressLine } from './progress.js';
import { resolveRunConfig } from './run-config.js';

/** The SFT config keys this path reads (align-commands' SFT_DEFAULTS plus trainVision). */
export interface ImageSftConfig {
  model: string | null;
  data: string | null;
  evalData: string | null;
  out: string | null;
  seqLen: number;
  batchSize: number;
  gradAccum: number;
  epochs: number;
  steps: number;
  schedule: string;
  lr: number;
  warmupSteps: number;
  decayStart: number;
  decay: string;
  halfLife: number;
  decaySteps: number;
  weightDecay: number;
  clip: number;
  betas: number[];
  eps: number;
  seed: number;
  saveEvery: number;
  keepLast: number;
  evalEvery: number;
  evalBatches: number;
  spikeFactor: number;
  chatFormat: string;
  /** LoRA on the language model (the resampler still trains fully): "r=16,alpha=32,targets=…". */
  lora: string | null;
  /** Only f32 for MiniCPM-V (the text path's bf16/int8/int4 bases are not wired to the VLM loader). */
  loraBase?: string;
  trainVision: boolean;
  /** Recompute each decoder layer during backward (null/absent: on for LoRA runs only). */
  checkpointLayers?: boolean | null;
  /** false: only the resampler (and tower) train; the demo's stage 1 (not a command-line option). */
  trainLanguage?: boolean;
  /** The tower's LR as a fraction of lr (the demo's tower trained from scratch; not a command-line option). */
  visionLrScale?: number;
  /** The resampler's LR as a fraction of lr (the demo's trained tower; not a command-line option). */
  resamplerLrScale?: number;
}

function configJsonOf(dir: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Whether an sft invocation trains a MiniCPM-V: its --model folder, or the checkpoint it resumes, is one. */
export function isImageSftRun(opts: Record<string, unknown>): boolean {
  let dir = typeof opts.model === 'string' ? opts.model : null;
  if (typeof opts.resume === 'string') {
    try {
      dir = resolveCheckpoint(opts.resume);
      // a LoRA checkpoint holds no model folder: its run's base model tells
      if (isVlmLoraCheckpoint(dir)) return true;
    } catch {
      return false;
    }
  } else if (!dir && typeof opts.config === 'string') {
    try {
      const preset = JSON.parse(fs.readFileSync(opts.config, 'utf8')) as { model?: unknown };
      if (typeof preset.model === 'string') dir = preset.model;
    } catch {
      return false; // the text path reports the unreadable preset
    }
  }
  const json = dir ? configJsonOf(dir) : null;
  return !!json && isMiniCPMVConfig(json);
}

export interface ImageSftResult {
  metrics: StepMetrics[];
  checkpoint: string | null;
  vlm: MiniCPMV;
}

/**
 * One image SFT run (fresh from c.model, or resumed from `resume`), with the same config rules as text
 * SFT: a resume takes the saved config, command-line values on top.
 */
export async function runImageSft(
  c: ImageSftConfig,
  resume?: string,
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Promise<ImageSftResult> {
  const loraBase = c.loraBase ?? 'f32';
  if (!c.lora && loraBase !== 'f32')
    throw new AlignError('--lora-base is for LoRA runs: add --lora r=…,alpha=…,targets=…');
  if (c.lora && loraBase !== 'f32')
    throw new AlignError(
      `--lora-base ${loraBase} is not supported for MiniCPM-V models: drop it (the base is held in f32)`,
    );
  if (c.lora && c.trainLanguage === false)
    throw new AlignError('LoRA adapts the language model: it cannot be kept frozen in a LoRA run');
  if (c.chatFormat !== 'auto' && c.chatFormat !== 'minicpm')
    throw new AlignError(
      'MiniCPM-V training renders its own prompt format (<用户><image>…<AI>): drop --chat-format',
    );
  if (!c.data) throw new AlignError('sft needs --data FILE.jsonl');
  if (!c.out) throw new AlignError('sft needs --out RUN_DIR');
  const save = { runDir: c.out, keepLast: c.keepLast };
  const adamw = { betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, clip: c.clip };
  let vlm: MiniCPMV;
  let tokenizerDir: string;
  let run;
  let lora: LoraAdapters | undefined;
  if (resume && isVlmLoraCheckpoint(resume)) {
    const loaded = await loadVlmLoraCheckpoint(resume, c.trainVision);
    vlm = loaded.vlm;
    lora = loaded.adapters;
    tokenizerDir = resolveCheckpoint(resume);
    run = openRun({
      start: { kind: 'resume', from: resume, loaded },
      dataId: 'sft data',
      adamw,
      trainables: vlmLoraTrainables(vlm, lora, adamw, c.trainVision, {
        ...save,
        tokenizerFrom: tokenizerDir,
        baseModel: c.model,
      }),
    });
  } else if (resume) {
    if (c.lora)
      throw new AlignError(
        `${resume} is a full fine-tuning run: resume it without --lora, or start a new LoRA run`,
      );
    const loaded = await loadVlmCheckpoint(resume);
    vlm = loaded.vlm;
    tokenizerDir = resolveCheckpoint(resume);
    run = openRun({
      start: { kind: 'resume', from: resume, loaded },
      dataId: 'sft data',
      adamw,
      trainables: imageSftTrainables(
        vlm,
        adamw,
        c.trainVision,
        { ...save, tokenizerFrom: tokenizerDir },
        c.trainLanguage ?? true,
        c.visionLrScale ?? 1,
        c.resamplerLrScale ?? 1,
      ),
    });
  } else {
    if (!c.model) throw new AlignError('sft needs --model DIR (a MiniCPM-V folder with a tokenizer)');
    vlm = await loadMiniCPMV(c.model);
    tokenizerDir = c.model;
    lora = c.lora ? initVlmLora(vlm, parseLoraSpec(c.lora), c.seed) : undefined;
    run = openRun({
      start: { kind: 'fresh', model: vlm.llm },
      dataId: 'sft data',
      adamw,
      trainables: lora
        ? vlmLoraTrainables(vlm, lora, adamw, c.trainVision, {
            ...save,
            tokenizerFrom: tokenizerDir,
            baseModel: c.model,
          })
        : imageSftTrainables(
            vlm,
            adamw,
            c.trainVision,
            { ...save, tokenizerFrom: tokenizerDir },
            c.trainLanguage ?? true,
            c.visionLrScale ?? 1,
            c.resamplerLrScale ?? 1,
          ),
    });
  }
  useLayerCheckpoints(vlm.llm, c.checkpointLayers ?? null, lora);
  const tok = loadTokenizer(tokenizerDir).tokenizer;
  const Q = vlm.config.queryNum;
  const imagePaths: string[] = [];
  const render = (file: string): ImageExample[] => {
    const r = imageSftExamples(tok, readImageConversations(file), Q, c.seqLen, imagePaths);
    log(
      `${file}: ${r.examples.length} conversations, ${r.supervisedTokens} supervised tokens` +
        `${r.clipped ? `, ${r.clipped} clipped to ${c.seqLen} tokens` : ''}` +
        `${r.dropped ? `, ${r.dropped} dropped (no answer or an image span beyond --seq-len)` : ''}`,
    );
    return r.examples;
  };
  const examples = render(c.data);
  const pad = tok.eosId >= 0 ? tok.eosId : 0;
  const validation = c.evalData
    ? new ValidationSet(heldOutImageBatches(render(c.evalData), c.batchSize, pad, c.evalBatches))
    : undefined;
  const store = await ImageStore.load(vlm, imagePaths, c.trainVision);
  log(
    `${store.size} images; training ${c.trainLanguage === false ? '' : lora ? `LoRA adapters on ${lora.modules.size} language-model linears (base frozen), ` : 'the language model, '}the resampler${c.trainVision ? ' and the vision tower' : ' (vision tower frozen)'}`,
  );
  const steps =
    c.steps > 0
      ? c.steps
      : Math.max(1, Math.ceil((c.epochs * examples.length) / (c.batchSize * c.gradAccum)));
  const config = { ...c, steps, stage: 'sft' };
  fs.mkdirSync(c.out, { recursive: true });
  fs.writeFileSync(
    path.join(c.out, 'run_config.json'),
    JSON.stringify({ ...config, model_config: minicpmvConfigToHF(vlm.config) }, null, 1),
  );
  const result = await run.train(new ImageSftBatches(examples, c.batchSize, c.seed, pad), {
    steps,
    schedule: scheduleFrom({ ...c, steps }),
    gradAccum: c.gradAccum,
    runDir: c.out,
    saveEvery: c.saveEvery,
    keepLast: c.keepLast,
    evalEvery: validation ? c.evalEvery : 0,
    validation,
    spikeFactor: c.spikeFactor,
    config,
    phase: 'sft',
    objective: imageSftObjective(vlm, store),
    onStep: (m) => log(progressLine(m, steps)),
  });
  return { metrics: result.metrics, checkpoint: result.checkpoint, vlm };
}

/** `minicpm sft` for MiniCPM-V models; `defaults` are the text command's SFT defaults. */
export async function imageSftCommand(
  opts: Record<string, unknown>,
  defaults: Omit<ImageSftConfig, 'trainVision'>,
): Promise<void> {
  const { config: presetFile, resume, ...rest } = opts as { config?: string; resume?: string };
  let c = resolveRunConfig({ ...defaults, trainVision: false }, presetFile, rest);
  if (resume) {
    const saved = readTrainerState(resume);
    if ((saved.config as { stage?: unknown }).stage !== 'sft')
      throw new AlignError(`${resume} is not an sft run: resume it with the command that started it`);
    const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    c = { ...c, ...(saved.config as Partial<ImageSftConfig>), ...given, out: c.out ?? runDirOf(resume) };
  }
  const r = await runImageSft(c, resume);
  const last = r.metrics[r.metrics.length - 1];
  console.log(
    JSON.stringify({ steps: last ? last.step + 1 : 0, loss: last?.loss ?? null, checkpoint: r.checkpoint }),
  );
}
