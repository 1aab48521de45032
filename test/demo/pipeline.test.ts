/**
 * The demo's whole loop at test size: a corpus built offline from fake packages, the tiny preset, a few
 * steps per phase. Checks that every stage runs and is recorded, that the report holds the curves, the
 * evaluation table and the served chats, and that a run killed in the middle of SFT resumes from the SFT
 * checkpoint with the finished stages recalled, ending where an uninterrupted run ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { buildCorpus } from '../../src/data/corpus/build-corpus.js';
import { DEMO_DEFAULTS, type DemoOptions } from '../../src/demo/options.js';
import { runDemo } from '../../src/demo/pipeline.js';
import { defaultBenchmarksDir } from '../../src/eval/datasets/index.js';
import { readTrainerState, resolveCheckpoint } from '../../src/train/checkpoint.js';
import { fakeInstalledPackages } from '../helpers/fake-corpus.js';

useBackend('auto');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-demo-'));
const corpusDir = path.join(root, 'corpus');
const haveBenchmarks = fs.existsSync(path.join(defaultBenchmarksDir(), 'arc'));
if (!haveBenchmarks)
  console.warn('demo test: ../shared/data/benchmarks is absent; the benchmark rows are skipped');

// the fake corpus gives some sources no held-out text: the test's mixtures leave those out
function mixture(name: string, phase: string, sources: Record<string, number>): string {
  const file = path.join(root, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, phase, sources }));
  return file;
}

function options(out: string): DemoOptions {
  const stable = { 'moby-dick': 2, brown: 1, sotu: 2, 'code-libs': 1 };
  return {
    ...DEMO_DEFAULTS,
    out,
    corpusDir,
    stableMixture: mixture('test-stable', 'stable', stable),
    decayMixture: mixture('test-decay', 'decay', { ...stable, wordnet: 1, instruct: 3 }),
    preset: 'tiny',
    vocabSize: 800,
    tokenizerSampleBytes: 200_000,
    seqLen: 32,
    batchSize: 4,
    stableSteps: 6,
    decaySteps: 4,
    warmupSteps: 2,
    evalEvery: 3,
    evalBatches: 2,
    pinEvery: 3,
    saveEvery: 2,
    sftSteps: 4,
    sftBatchSize: 4,
    sftSeqLen: 48,
    dpoSteps: 3,
    dpoBatchSize: 2,
    alignEvalItems: 4,
    evalItems: 8,
    evalGenerate: 2,
    benchmarks: haveBenchmarks ? 'arc-e' : '',
    benchmarkItems: 6,
    gptqSamples: 4,
    chatTokens: 6,
  };
}

const quiet = { say: () => {} };
const STAGES = [
  'corpus',
  'tokenizer',
  'shards',
  'stable',
  'decay',
  'decay-drop',
  'eval-decay',
  'sft',
  'eval-sft',
  'dpo',
  'eval-dpo',
  'gptq',
  'eval-int4',
  'chat',
  'report',
];

beforeAll(async () => {
  fakeInstalledPackages(corpusDir);
  await buildCorpus({ dir: corpusDir, instructPerKind: 200 });
}, 120_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('minicpm demo at test size', () => {
  it('runs every stage, records it, and writes one report with curves, the evaluation table and the chats', async () => {
    const out = path.join(root, 'whole');
    const r = await runDemo(options(out), quiet);
    const stages = JSON.parse(fs.readFileSync(path.join(out, 'stages.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(Object.keys(stages)).toEqual(STAGES);
    expect(r.evals.map((e) => e.label)).toEqual([
      'after decay (base)',
      'after SFT',
      'after DPO',
      'DPO, int4 (GPTQ)',
    ]);
    // the same items in every column
    const n = r.evals.map((e) => e.scores.instruct.all.n);
    expect(new Set(n).size).toBe(1);
    expect(n[0]).toBeGreaterThan(0);
    for (const e of r.evals)
      expect(e.scores.benchmarks.map((b) => b.items)).toEqual(haveBenchmarks ? [6] : []);
    // SFT moved the weights away from the decayed model, DPO away from SFT's
    expect(r.evals[1].scores.instruct.all.answerLoss).not.toBe(r.evals[0].scores.instruct.all.answerLoss);
    expect(r.evals[2].scores.instruct.all.answerLoss).not.toBe(r.evals[1].scores.instruct.all.answerLoss);
    // the int4 folder is a GPTQ model
    const config = JSON.parse(fs.readFileSync(path.join(out, 'int4', 'config.json'), 'utf8')) as {
      quantization_config?: { bits: number };
    };
    expect(config.quantization_config?.bits).toBe(4);
    // the chat went over HTTP on a loopback port the system chose, and the server was stopped
    expect(r.chat.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(r.chat.turns.length).toBeGreaterThan(0);
    for (const t of r.chat.turns) expect(t.completionTokens).toBeGreaterThan(0);
    await expect(fetch(`${r.chat.url}/health`)).rejects.toThrow();

    const html = fs.readFileSync(r.report, 'utf8');
    expect(html.match(/<svg/g)?.length).toBeGreaterThanOrEqual(5);
    for (const s of [
      'Pretraining',
      'SFT: loss',
      'DPO: loss',
      'reward margin',
      'after SFT',
      'after DPO',
      'int4',
    ])
      expect(html).toContain(s);
    expect(html).toContain(
      r.chat.turns[0].prompt.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
    );
    expect(html).not.toMatch(/<(script|link|img)\b/); // self-contained

    // the anytime model: a decay branched from an earlier stable checkpoint, and the loop after it on that branch
    const branch = await runDemo({ ...options(out), decayFrom: 3 }, quiet);
    expect(branch.report).toBe(path.join(out, 'report-from-3', 'index.html'));
    const all = Object.keys(JSON.parse(fs.readFileSync(path.join(out, 'stages.json'), 'utf8')) as object);
    expect(all).toEqual([
      ...STAGES,
      'decay-from-3',
      'decay-from-3-drop',
      ...STAGES.slice(6).map((s) => `${s}-from-3`),
    ]);
    const decayed = readTrainerState(resolveCheckpoint(path.join(out, 'decay-from-3')));
    expect(decayed.step).toBe(3 + 4);
    expect((decayed.config as { branchStep: number }).branchStep).toBe(3);
  }, 600_000);

  it('resumes a run killed in the middle of SFT from the SFT checkpoint, recalling the finished stages', async () => {
    const out = path.join(root, 'killed');
    const o = options(out);
    class Killed extends Error {}
    await expect(
      runDemo(o, {
        ...quiet,
        onStep: (m) => {
          if (m.phase === 'sft' && m.step === 2) throw new Killed('killed');
        },
      }),
    ).rejects.toBeInstanceOf(Killed);
    const before = JSON.parse(fs.readFileSync(path.join(out, 'stages.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(Object.keys(before)).toEqual(STAGES.slice(0, STAGES.indexOf('sft')));
    expect(readTrainerState(resolveCheckpoint(path.join(out, 'sft'))).step).toBeGreaterThanOrEqual(1);

    const logs: string[] = [];
    const steps: number[] = [];
    const r = await runDemo(o, {
      say: (m) => logs.push(m),
      onStep: (m) => {
        steps.push(m.step);
        expect(m.phase === 'stable' || m.phase === 'decay').toBe(false);
      },
    });
    expect(logs.join('\n')).toMatch(/stable phase.*done/);
    expect(logs.join('\n')).toMatch(/resuming at step [12]/);
    // SFT continued from its checkpoint, not from step 0
    expect(steps[0]).toBeGreaterThan(0);
    expect(readTrainerState(resolveCheckpoint(path.join(out, 'sft'))).step).toBe(o.sftSteps);
    expect(r.ledger.timings.map((t) => t.name)).toEqual(STAGES);
    const sftAt = STAGES.indexOf('sft');
    expect(r.ledger.timings.map((t) => t.recalled)).toEqual(STAGES.map((_, i) => i < sftAt));
    expect(fs.existsSync(r.report)).toBe(true);
    // a third run finds everything done and trains nothing
    let trained = 0;
    await runDemo(o, { ...quiet, onStep: () => trained++ });
    expect(trained).toBe(0);
    // finished stages are recalled by name: a rerun asking for other settings is refused
    await expect(runDemo({ ...o, sftLr: 0.5 }, quiet)).rejects.toThrow(
      /other settings.*--sft-lr 0\.001, now 0\.5/,
    );
    // a folder from before stages were recorded: a longer stable run is not taken as this one's
    fs.rmSync(path.join(out, 'stages.json'));
    fs.rmSync(path.join(out, 'demo-options.json'));
    await expect(runDemo({ ...o, stableSteps: 4 }, quiet)).rejects.toThrow(
      /at step 6, past --stable-steps 4/,
    );
  }, 600_000);
});
