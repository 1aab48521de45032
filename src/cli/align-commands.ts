/**
 * `minicpm sft` and `minicpm dpo`: thin wrappers that render the data (align/), then run the common
 * training loop (train/) with μP AdamW groups, a schedule, atomic checkpoints and exact resume.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import {
  AlignError,
  chatFormatFor,
  DpoBatches,
  dpoExamples,
  dpoObjective,
  readConversations,
  readPreferences,
  referenceLogProbs,
  heldOutBatches,
  heldOutPairBatches,
  SftBatches,
  sftExamples,
  type DpoLossKind,
  type ReferenceLogProbs,
} from '../align/index.js';
import { initLora, useLayerCheckpoints, withoutAdapters } from '../align/lora.js';
import { checkLoraBase, loadLoraBase } from '../align/lora-base.js';
import { isLoraCheckpoint, loadLoraCheckpoint, loraTrainables } from '../align/lora-checkpoint.js';
import { configToHF } from '../models/config.js';
import { loadModel } from '../models/load.js';
import type { MiniCPM } from '../models/minicpm.js';
import { parseLoraSpec, type LoraAdapters } from '../nn/lora.js';
import { loadTokenizer } from '../tokenizer/index.js';
import type { BatchSource } from '../train/batches.js';
import { readTrainerState, resolveCheckpoint, runDirOf, type TrainerState } from '../train/checkpoint.js';
import { ADAMW_DEFAULTS } from '../train/optimizer.js';
import { openRun, type OpenedRun, type RunStart } from '../train/run.js';
import { scheduleFrom } from '../train/schedules.js';
import type { Objective } from '../train/trainer.js';
import { ValidationSet } from '../train/validation.js';
import { progressLine } from './progress.js';
import { resolveRunConfig } from './run-config.js';
import { imageSftCommand, isImageSftRun } from './vlm-sft.js';

const COMMON = {
  model: null as string | null,
  data: null as string | null,
  evalData: null as string | null,
  chatFormat: 'auto',
  seqLen: 512,
  batchSize: 8,
  gradAccum: 1,
  epochs: 1,
  /** 0: from --epochs. */
  steps: 0,
  schedule: 'wsd',
  lr: 1e-3,
  warmupSteps: 10,
  decayStart: -1,
  decay: 'exp',
  halfLife: 0,
  decaySteps: 0,
  weightDecay: ADAMW_DEFAULTS.weightDecay,
  clip: ADAMW_DEFAULTS.clip,
  betas: [...ADAMW_DEFAULTS.betas],
  eps: ADAMW_DEFAULTS.eps,
  seed: 0,
  out: null as string | null,
  saveEvery: 0,
  keepLast: 2,
  evalEvery: 0,
  /** Validation batches cut from --eval-data (0: every held-out example, once). */
  evalBatches: 0,
  spikeFactor: 0,
  /** LoRA instead of full fine-tuning: "r=16,alpha=32,dropout=0.05,targets=q_proj,…[,rslora]". */
  lora: null as string | null,
  /** How a LoRA run holds its frozen base: f32 | bf16 | int8 | int4 (QLoRA). */
  loraBase: 'f32',
  /** Recompute each decoder layer during backward (null: on for LoRA runs, off for full fine-tuning). */
  checkpointLayers: null as boolean | null,
};

/** SFT (SPEC §5.3): LR 1e-3 continuing from the decayed model, WSD. */
export const SFT_DEFAULTS = { ...COMMON };
/** DPO (SPEC §5.4): 1 epoch, LR 1e-5, cosine; β 0.1. Batch size counts pairs. */
export const DPO_DEFAULTS = {
  ...COMMON,
  lr: 1e-5,
  schedule: 'cosine',
  batchSize: 4,
  warmupSteps: 0,
  weightDecay: 0,
  beta: 0.1,
  loss: 'sigmoid',
  labelSmoothing: 0,
};
type AlignConfig = typeof SFT_DEFAULTS & Partial<typeof DPO_DEFAULTS>;

interface Prepared {
  /** The opened run (train/openRun): its model, optimizer and, on --resume, the state it continues. */
  run: OpenedRun;
  model: MiniCPM;
  start?: TrainerState;
  c: AlignConfig;
  /** Folder the tokenizer (and chat template) is read from, copied into every checkpoint. */
  tokenizerDir: string;
  /** With --lora: the trainable adapters on the frozen model. */
  lora?: LoraAdapters;
}

/** The model (fresh from --model, or a run's latest checkpoint for --resume) and the resolved config. */
async function prepare<T extends AlignConfig>(
  kind: string,
  defaults: T,
  opts: Record<string, unknown>,
): Promise<Prepared> {
  const { config: presetFile, resume, ...rest } = opts as { config?: string; resume?: string };
  let c: AlignConfig = resolveRunConfig(defaults, presetFile, rest);
  // sft and dpo runs never branch, so one data name per stage; the data itself is checked by the
  // cursor (SFT) and the reference's fingerprint (DPO).
  const open = (start: RunStart, tokenizerDir: string, lora?: LoraAdapters) => {
    const adamw = { betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, clip: c.clip };
    const save = { runDir: c.out!, keepLast: c.keepLast, tokenizerFrom: tokenizerDir, baseModel: c.model };
    return openRun({
      start,
      dataId: `${kind} data`,
      adamw,
      // LoRA: AdamW over the adapters alone, adapter-only checkpoints
      trainables: lora && loraTrainables(lora, adamw, save),
    });
  };
  if (resume) {
    const saved = readTrainerState(resume);
    if ((saved.config as { stage?: unknown }).stage !== kind)
      throw new AlignError(`${resume} is not a ${kind} run: resume it with the command that started it`);
    c = { ...c, ...(saved.config as Partial<AlignConfig>), ...defined(rest), out: c.out ?? runDirOf(resume) };
    // every checkpoint carries the tokenizer: the starting model's folder may have moved since
    const checkpoint = resolveCheckpoint(resume);
    const lora = isLoraCheckpoint(checkpoint) ? await loadLoraCheckpoint(checkpoint) : undefined;
    const run = open({ kind: 'resume', from: resume, loaded: lora }, checkpoint, lora?.adapters);
    useLayerCheckpoints(run.model, c.checkpointLayers, lora?.adapters);
    return { run, model: run.model, start: run.state, c, tokenizerDir: checkpoint, lora: lora?.adapters };
  }
  if (!c.model) throw new AlignError(`${kind} needs --model DIR (a Hugging Face folder with a tokenizer)`);
  if (!c.data) throw new AlignError(`${kind} needs --data FILE.jsonl`);
  if (!c.out) throw new AlignError(`${kind} needs --out RUN_DIR`);
  if (!c.lora && c.loraBase !== 'f32')
    throw new AlignError('--lora-base is for LoRA runs: add --lora r=…,alpha=…,targets=…');
  const model = c.lora ? await loadLoraBase(c.model, checkLoraBase(c.loraBase)) : await loadModel(c.model);
  const lora = c.lora ? initLora(model, parseLoraSpec(c.lora), c.seed) : undefined;
  const run = open({ kind: 'fresh', model }, c.model, lora);
  useLayerCheckpoints(run.model, c.checkpointLayers, lora);
  return { run, model: run.model, c, tokenizerDir: c.model, lora };
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

async function train(
  kind: 'sft' | 'dpo',
  p: Prepared,
  source: BatchSource,
  steps: number,
  objective?: Objective,
  validation?: ValidationSet,
): Promise<void> {
  const { model, c } = p;
  const config = { ...c, steps, stage: kind };
  fs.mkdirSync(c.out!, { recursive: true });
  fs.writeFileSync(
    path.join(c.out!, 'run_config.json'),
    JSON.stringify({ ...config, model_config: configToHF(model.config) }, null, 1),
  );
  const result = await p.run.train(source, {
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
    phase: kind,
    tokenizerDir: p.tokenizerDir,
    objective,
    onStep: (m) => {
      const stats = Object.entries(m.stats ?? {}).map(([k, v]) => `${k} ${v.toFixed(3)}`);
      process.stderr.write([progressLine(m, steps), ...stats].join('  ') + '\n');
    },
  });
  const last = result.metrics[result.metrics.length - 1];
  console.log(
    JSON.stringify({
      steps: result.state.step,
      loss: last?.loss ?? null,
      stats: last?.stats,
      checkpoint: result.checkpoint,
    }),
  );
}

const stepsFor = (c: AlignConfig, items: number) =>
  c.steps > 0 ? c.steps : Math.max(1, Math.ceil((c.epochs * items) / (c.batchSize * c.gradAccum)));

export async function sftCommand(opts: Record<string, unknown>): Promise<void> {
  // MiniCPM-V models (records with images) train through cli/vlm-sft.ts
  if (isImageSftRun(opts)) return imageSftCommand(opts, SFT_DEFAULTS);
  if (opts.trainVision) throw new AlignError('--train-vision needs a MiniCPM-V model (--model with a vision tower)');
  const p = await prepare('sft', SFT_DEFAULTS, opts);
  const { c, model } = p;
  const loaded = loadTokenizer(p.tokenizerDir);
  const tok = loaded.tokenizer;
  const format = chatFormatFor(c.chatFormat, model.config.modelType, loaded.chatTemplate);
  const render = (file: string) => {
    const r = sftExamples(tok, format, readConversations(file), c.seqLen);
    process.stderr.write(
      `${file}: ${r.examples.length} conversations, ${r.supervisedTokens} supervised tokens` +
        `${r.clipped ? `, ${r.clipped} clipped to ${c.seqLen} tokens` : ''}${r.dropped ? `, ${r.dropped} dropped (no answer within the limit)` : ''}\n`,
    );
    return r.examples;
  };
  const examples = render(c.data!);
  const pad = tok.eosId >= 0 ? tok.eosId : 0;
  const validation = c.evalData
    ? new ValidationSet(heldOutBatches(render(c.evalData), c.batchSize, pad, c.evalBatches))
    : undefined;
  if (validation) describeValidation(validation);
  await train(
    'sft',
    p,
    new SftBatches(examples, c.batchSize, c.seed, pad),
    stepsFor(c, examples.length),
    undefined,
    validation,
  );
}

function describeValidation(v: ValidationSet): void {
  process.stderr.write(
    `validation: ${v.size} fixed batches, ${v.tokens} scored tokens (fingerprint ${v.fingerprint})\n`,
  );
}

/** The reference log-probs of a run: computed before the first update, then read back on every resume. */
function runReference(
  p: Prepared,
  fingerprint: string,
  compute: () => ReferenceLogProbs,
  name = 'reference_logps.json',
): ReferenceLogProbs {
  const file = path.join(p.c.out!, name);
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      fingerprint: string;
      chosen: number[];
      rejected: number[];
    };
    if (saved.fingerprint !== fingerprint)
      throw new AlignError(`${file} was computed for other data or settings: use a new --out for this data`);
    return { chosen: Float64Array.from(saved.chosen), rejected: Float64Array.from(saved.rejected) };
  }
  if (p.start)
    throw new AlignError(
      `${file} is missing: the reference cannot be recomputed from a trained policy; start a new run`,
    );
  // With LoRA the reference is the base model: the adapters are switched off, no second model loaded.
  const ref = withoutAdapters(p.lora, compute);
  fs.mkdirSync(p.c.out!, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(
    tmp,
    JSON.stringify({ fingerprint, chosen: [...ref.chosen], rejected: [...ref.rejected] }),
  );
  fs.renameSync(tmp, file);
  return ref;
}

export async function dpoCommand(opts: Record<string, unknown>): Promise<void> {
  const p = await prepare('dpo', DPO_DEFAULTS, opts);
  const { model } = p;
  const c = p.c as typeof DPO_DEFAULTS;
  const loaded = loadTokenizer(p.tokenizerDir);
  const tok = loaded.tokenizer;
  const format = chatFormatFor(c.chatFormat, model.config.modelType, loaded.chatTemplate);
  const objective = dpoObjective({
    beta: c.beta,
    loss: c.loss as DpoLossKind,
    labelSmoothing: c.labelSmoothing,
  });
  const { pairs, dropped } = dpoExamples(tok, format, readPreferences(c.data!), c.seqLen);
  process.stderr.write(
    `${c.data}: ${pairs.length} preference pairs${dropped ? `, ${dropped} dropped (no answer within ${c.seqLen} tokens)` : ''}\n`,
  );
  const pad = tok.eosId >= 0 ? tok.eosId : 0;
  const fingerprint = createHash('sha256')
    .update(fs.readFileSync(c.data!))
    .update(JSON.stringify([c.seqLen, format.kind, c.model]))
    .digest('hex');
  const ref = runReference(p, fingerprint, () =>
    referenceLogProbs(model, pairs, c.batchSize, pad, (n) =>
      process.stderr.write(`\rreference log-probs ${n}/${pairs.length}`),
    ),
  );
  process.stderr.write('\n');
  let validation: ValidationSet | undefined;
  if (c.evalData) {
    // Held-out pairs scored by the DPO loss against the same reference (the starting model), kept with the run.
    const held = dpoExamples(tok, format, readPreferences(c.evalData), c.seqLen).pairs;
    const evalPrint = createHash('sha256')
      .update(fs.readFileSync(c.evalData))
      .update(JSON.stringify([c.seqLen, format.kind, c.model]))
      .digest('hex');
    const evalRef = runReference(
      p,
      evalPrint,
      () =>
        referenceLogProbs(model, held, c.batchSize, pad, (n) =>
          process.stderr.write(`\rreference log-probs (held out) ${n}/${held.length}`),
        ),
      'reference_logps_eval.json',
    );
    process.stderr.write('\n');
    validation = new ValidationSet(
      heldOutPairBatches(held, evalRef, c.batchSize, pad, c.evalBatches),
      'rows',
    );
    describeValidation(validation);
  }
  await train(
    'dpo',
    p,
    new DpoBatches(pairs, ref, c.batchSize, c.seed, pad),
    stepsFor(c, pairs.length),
    objective,
    validation,
  );
}

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new AlignError(`"${v}" is not a number`);
  return n;
};
const int = (v: string): number => {
  const n = num(v);
  if (!Number.isInteger(n)) throw new AlignError(`"${v}" is not an integer`);
  return n;
};

function common(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON run config (keys as below, camelCase)')
    .option('--model <dir>', 'the model to start from (Hugging Face folder with its tokenizer)')
    .option('--data <file>', 'training records, JSONL or a JSON array')
    .option(
      '--chat-format <kind>',
      "auto | minicpm (<用户>…<AI>…) | minicpm-finetune (finetune.py's ids, for released MiniCPMs) | jinja (the tokenizer's chat_template)",
    )
    .option('--seq-len <n>', 'longest sequence; longer ones are cut (answers that vanish are dropped)', int)
    .option('--batch-size <n>', 'examples per micro-batch', int)
    .option('--grad-accum <n>', 'micro-batches per optimizer step', int)
    .option('--epochs <x>', 'passes over the data (sets --steps)', num)
    .option('--steps <n>', 'total optimizer steps (overrides --epochs)', int)
    .option('--lr <x>', 'peak learning rate (hidden matrices get lr/m under μP)', num)
    .option('--schedule <kind>', 'wsd | cosine | constant')
    .option('--warmup-steps <n>', 'linear warmup steps', int)
    .option('--decay-start <n>', 'WSD: first decay step (default 90% of the steps)', int)
    .option('--decay <kind>', 'WSD decay: exp | linear | cosine | sqrt')
    .option('--weight-decay <x>', 'decoupled weight decay', num)
    .option('--clip <x>', 'global gradient-norm clip (0 disables)', num)
    .option('--seed <n>', 'data order seed', int)
    .option('--out <dir>', 'run folder (metrics.jsonl, checkpoints/)')
    .option('--save-every <n>', 'checkpoint every n steps (and always at the end)', int)
    .option('--keep-last <n>', 'checkpoints to keep', int)
    .option('--resume <dir>', 'continue a run exactly from its latest checkpoint')
    .option(
      '--lora <spec>',
      'train LoRA adapters on the frozen model: r=16,alpha=32,dropout=0.05,targets=q_proj,v_proj[,rslora]',
    )
    .option('--lora-base <dtype>', 'the frozen base of a LoRA run: f32 | bf16 | int8 | int4 (QLoRA)')
    .option(
      '--checkpoint-layers',
      'keep only each decoder layer input and recompute the layer in backward (default for --lora; same gradients, ~1/3 more compute)',
    )
    .option('--no-checkpoint-layers', 'keep every activation (default for full fine-tuning)');
}

export function registerAlignCommands(program: Command): void {
  common(
    program
      .command('sft')
      .description('supervised fine-tuning on conversations: loss on assistant tokens and the closing EOS'),
  )
    .option('--eval-data <file>', 'held-out conversations for validation loss')
    .option('--eval-every <n>', 'validation loss every n steps', int)
    .option('--eval-batches <n>', 'validation batches (default: every held-out conversation once)', int)
    .option('--train-vision', 'MiniCPM-V: train the vision tower too (frozen by default)')
    .action(async (opts: Record<string, unknown>) => sftCommand(opts));
  common(
    program
      .command('dpo')
      .description('direct preference optimisation against the starting model as reference'),
  )
    .option('--beta <x>', 'β: strength of the KL anchor to the reference', num)
    .option('--loss <kind>', 'sigmoid | hinge | ipo')
    .option('--label-smoothing <x>', 'ε of the sigmoid loss (conservative DPO)', num)
    .option('--eval-data <file>', 'held-out preference pairs for validation loss and reward accuracy')
    .option('--eval-every <n>', 'validation every n steps', int)
    .option('--eval-batches <n>', 'validation batches (default: every held-out pair once)', int)
    .action(async (opts: Record<string, unknown>) => dpoCommand(opts));
}
