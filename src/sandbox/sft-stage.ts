/**
 * A short supervised fine-tuning stage inside a study (the second half of the decay-data experiment):
 * conversations in MiniCPM's chat format through the align/ SFT data path and the common training loop.
 * The stage keeps its own checkpoints next to the study's runs, so an interrupted study resumes it and a
 * finished one is recalled.
 */
import { SftBatches, sftExamples, type Conversation } from '../align/index.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { hasCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import { openRun } from '../train/run.js';
import { runDirOf, type RunContext } from './runner.js';
import { wsd } from './studies/common.js';

export interface SftStageSpec {
  /** The checkpoint to fine-tune. */
  from: string;
  conversations: readonly Conversation[];
  lr: number;
  batchSize: number;
  seqLen: number;
  seed: number;
}

/** Trains (or resumes, or recalls) `name`; returns the fine-tuned model and the stage's mean final loss. */
export async function sftStage(
  ctx: RunContext,
  name: string,
  tok: Tokenizer,
  spec: SftStageSpec,
): Promise<{ model: MiniCPM; steps: number; loss: number | null }> {
  const { examples } = sftExamples(tok, { kind: 'minicpm' }, spec.conversations, spec.seqLen);
  const steps = Math.max(1, Math.ceil(examples.length / spec.batchSize));
  const runDir = runDirOf(ctx, name);
  // Fine-tuning starts a new run from the decayed model's weights (fresh optimizer), or resumes its own.
  const run = openRun({
    start: hasCheckpoint(runDir)
      ? { kind: 'resume', from: runDir }
      : { kind: 'fresh', model: loadCheckpoint(spec.from).model },
    dataId: 'sft data',
  });
  const { model, state: resumed } = run;
  if (resumed && resumed.step >= steps) {
    ctx.log(`   ${name}: recalled (${resumed.step} SFT steps)`);
    return { model, steps, loss: (resumed.extra?.lossEma as number | undefined) ?? null };
  }
  ctx.log(
    `   ${name}: SFT on ${examples.length} conversations, ${steps} steps${resumed ? ` (resuming at ${resumed.step})` : ''}`,
  );
  const source = new SftBatches(examples, spec.batchSize, spec.seed, tok.eosId >= 0 ? tok.eosId : 0);
  const result = await run.train(source, {
    steps,
    // MiniCPM's SFT: WSD again, at a tenth of the pretraining peak
    schedule: wsd(spec.lr, steps, 0.1),
    gradAccum: 1,
    runDir,
    saveEvery: Math.max(1, Math.round(steps / 4)),
    keepLast: 1,
    evalEvery: 0,
    spikeFactor: 0,
    config: { stage: 'sft', from: spec.from, lr: spec.lr, batchSize: spec.batchSize, seqLen: spec.seqLen },
    phase: 'sft',
    // complete model folders: `minicpm generate` / `dpo --model` can start from them
    tokenizerDir: ctx.tokenizerDir || undefined,
  });
  return { model, steps, loss: (result.state.extra?.lossEma as number | undefined) ?? null };
}
