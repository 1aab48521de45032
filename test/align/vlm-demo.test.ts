/**
 * The vision-language demo at micro size (a tiny language model built here, a few steps per stage):
 * both stages run through minicpm sft's path, the held-out questions are decoded, and the report and
 * summary hold the accuracy with its baselines. The accuracy bookkeeping is checked on closed forms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { accuracyByKind } from '../../src/align/vlm-eval.js';
import { refBackend } from '../../src/backends/index.js';
import { vlmDemoCommand } from '../../src/cli/vlm-demo-command.js';
import { configFromHF } from '../../src/models/config.js';
import { saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { Rng, setBackend } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

setBackend(refBackend());
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-vlm-demo-'));
const at = (...p: string[]) => path.join(root, ...p);

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('accuracyByKind', () => {
  it('counts right answers, uniform chance and the majority training answer per kind and overall', () => {
    const results = [
      { answer: 'red', predicted: 'red', correct: true },
      { answer: 'blue', predicted: 'red', correct: false },
      { answer: 'two', predicted: 'two', correct: true },
    ];
    const rows = accuracyByKind(
      results,
      ['colour', 'colour', 'count'],
      { colour: ['red', 'green', 'blue', 'yellow'], count: ['one', 'two', 'three'] },
      { colour: { blue: 5, red: 2 }, count: { one: 4 } },
    );
    expect(rows.map((r) => r.kind)).toEqual(['colour', 'count', 'all']);
    expect(rows[0]).toEqual({ kind: 'colour', questions: 2, accuracy: 0.5, chance: 0.25, majority: 0.5 });
    expect(rows[1]).toEqual({ kind: 'count', questions: 1, accuracy: 1, chance: 1 / 3, majority: 0 });
    expect(rows[2].accuracy).toBeCloseTo(2 / 3, 12);
    expect(rows[2].chance).toBeCloseTo((0.25 + 0.25 + 1 / 3) / 3, 12);
    expect(rows[2].majority).toBeCloseTo(1 / 3, 12);
  });
});

describe('minicpm vlm-demo', () => {
  it('runs both stages at micro size and writes the report and summary', async () => {
    const tokDir = at('tokenizer');
    writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 480 }), tokDir);
    const V = loadTokenizer(tokDir).tokenizer.vocabSize;
    const lm = MiniCPM.init(
      configFromHF({
        vocab_size: V,
        hidden_size: 128,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 2,
        dim_model_base: 64,
      }),
      new Rng(0),
    );
    await saveModel(at('lm'), lm, { tokenizerFrom: tokDir });
    const out = at('run');
    await vlmDemoCommand({
      lm: at('lm'),
      out,
      trainImages: 4,
      valImages: 2,
      stage1Steps: 2,
      stage2Steps: 2,
      batchSize: 2,
      evalQuestions: 4,
    });
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
      accuracy: number;
      chance: number;
      byKind: { kind: string; questions: number }[];
    };
    expect(summary.accuracy).toBeGreaterThanOrEqual(0);
    expect(summary.accuracy).toBeLessThanOrEqual(1);
    expect(summary.chance).toBeGreaterThan(0.2);
    expect(summary.byKind.find((k) => k.kind === 'all')?.questions).toBe(4);
    const html = fs.readFileSync(path.join(out, 'report', 'index.html'), 'utf8');
    expect(html).toContain('Held-out answer accuracy');
    expect(html).toContain('data:image/png;base64,');
    expect(fs.existsSync(path.join(out, 'report', 'stage-2-questions-and-answers.svg'))).toBe(true);
    // stage 2 started from stage 1's checkpoint; its checkpoint is a MiniCPM-V folder
    const runCfg = JSON.parse(fs.readFileSync(path.join(out, 'stage2', 'run_config.json'), 'utf8')) as {
      model: string;
    };
    expect(runCfg.model).toContain(path.join('stage1', 'checkpoints'));
    const vlm = await loadMiniCPMV(path.join(out, 'stage2', 'checkpoints', 'step-00000002'));
    expect(vlm.config.queryNum).toBe(16);
  });
});
