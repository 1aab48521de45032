/**
 * Validation in `minicpm sft` and `minicpm dpo`: every held-out example once, the same batches at every
 * evaluation (lr 0 → one number), a standard error, and DPO's held-out pairs scored against the
 * reference saved with the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import { dpoCommand, sftCommand } from '../../src/cli/align-commands.js';
import { saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { Rng, setBackend } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { readMetrics } from '../../src/train/metrics.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

setBackend(refBackend());
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-align-val-'));
const at = (...p: string[]) => path.join(root, ...p);
const jsonl = (name: string, records: unknown[]): string => {
  fs.writeFileSync(at(name), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return at(name);
};
const user = (content: string) => ({ role: 'user', content });
const ai = (content: string) => ({ role: 'assistant', content });

const modelDir = at('model');
const tokDir = at('tokenizer');
writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 400 }), tokDir);
await saveModel(
  modelDir,
  MiniCPM.init(presetConfig('tiny', loadTokenizer(tokDir).tokenizer.vocabSize), new Rng(0)),
  { tokenizerFrom: tokDir },
);
const qa = (i: number) => ({ messages: [user(`What is ${i} plus one?`), ai(`It is ${i + 1}.`)] });
const train = jsonl(
  'train.jsonl',
  Array.from({ length: 6 }, (_, i) => qa(i)),
);
const held = jsonl(
  'held.jsonl',
  Array.from({ length: 5 }, (_, i) => qa(i + 10)),
);
const pair = (i: number) => ({ prompt: `Say ${i}.`, chosen: `${i}.`, rejected: `No, ${i + 7}!` });
const pairs = jsonl(
  'pairs.jsonl',
  Array.from({ length: 4 }, (_, i) => pair(i)),
);
const heldPairs = jsonl(
  'held-pairs.jsonl',
  Array.from({ length: 5 }, (_, i) => pair(i + 20)),
);

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

const evals = (run: string) =>
  readMetrics(path.join(run, 'metrics.jsonl')).filter((m) => m.val_loss !== undefined);

describe('validation in sft and dpo', () => {
  it('sft scores the same held-out batches at every evaluation', async () => {
    const out = at('sft');
    const flags = { model: modelDir, data: train, evalData: held, evalEvery: 1, batchSize: 2, seqLen: 48 };
    await sftCommand({ ...flags, out, steps: 3, lr: 0, schedule: 'constant', warmupSteps: 0 });
    const m = evals(out);
    expect(m.map((x) => x.step)).toEqual([0, 1, 2]);
    for (const x of m) {
      expect(x.val_loss).toBe(m[0].val_loss);
      expect(x.val_loss_se).toBeGreaterThan(0);
    }
    // five held-out conversations in batches of two: three batches, each conversation once
    const state = JSON.parse(
      fs.readFileSync(path.join(out, 'checkpoints', 'step-00000003', 'trainer_state.json'), 'utf8'),
    ) as { extra: { validation: { batches: number } } };
    expect(state.extra.validation.batches).toBe(3);
  });

  it('dpo validates on held-out pairs against the saved reference: ln 2 while the policy is the reference', async () => {
    const out = at('dpo');
    await dpoCommand({
      model: modelDir,
      data: pairs,
      evalData: heldPairs,
      evalEvery: 1,
      batchSize: 2,
      seqLen: 48,
      steps: 2,
      lr: 0,
      schedule: 'constant',
      warmupSteps: 0,
      out,
    });
    expect(fs.existsSync(path.join(out, 'reference_logps_eval.json'))).toBe(true);
    const m = evals(out);
    expect(m.map((x) => x.step)).toEqual([0, 1]);
    // lr 0: the policy stays its reference, so h = 0 on every pair: −log σ(0) = ln 2, zero margin
    for (const x of m) {
      expect(Math.abs(x.val_loss! - Math.LN2)).toBeLessThan(1e-6);
      expect(Math.abs(x.val_stats!.reward_margin)).toBeLessThan(1e-4);
    }
  });
});
