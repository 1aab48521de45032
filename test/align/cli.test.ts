/**
 * `minicpm sft` and `minicpm dpo` end to end on a tiny model folder built here: runs, metrics and
 * checkpoints, exact resume (SFT and DPO, the DPO reference reused), and typed, clear errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AlignError } from '../../src/align/errors.js';
import { refBackend } from '../../src/backends/index.js';
import { dpoCommand, sftCommand } from '../../src/cli/align-commands.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { Rng, setBackend } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { readMetrics } from '../../src/train/metrics.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

// The reference backend: deterministic, so a resumed run can be compared bit for bit.
setBackend(refBackend());

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-align-cli-'));
const at = (...p: string[]) => path.join(root, ...p);
const jsonl = (name: string, records: unknown[]): string => {
  fs.writeFileSync(at(name), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return at(name);
};
const user = (content: string) => ({ role: 'user', content });
const ai = (content: string) => ({ role: 'assistant', content });

// A tiny MiniCPM model folder with its (freshly trained) tokenizer, as `--model` expects.
const modelDir = at('model');
const tokDir = at('tokenizer');
writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 480 }), tokDir);
const vocabSize = loadTokenizer(tokDir).tokenizer.vocabSize;
await saveModel(modelDir, MiniCPM.init(presetConfig('tiny', vocabSize), new Rng(0)), {
  tokenizerFrom: tokDir,
});

const conversations = jsonl('sft.jsonl', [
  { messages: [user('What is the colour of the sky?'), ai('The sky is blue.')] },
  { messages: [user('Name a fruit.'), ai('An apple.'), user('Another one?'), ai('A pear.')] },
  { messages: [{ role: 'system', content: 'Be brief.' }, user('Say hello.'), ai('Hello there!')] },
  { messages: [user('Count to three.'), ai('One, two, three.')] },
  { messages: [user('今天天气怎么样？'), ai('今天天气很好。')] },
]);
const preferences = jsonl('dpo.jsonl', [
  { prompt: 'Is the sky blue?', chosen: 'Yes, it is blue.', rejected: 'No idea, go away.' },
  { prompt: 'Say hello.', chosen: 'Hello there!', rejected: 'Whatever.' },
  {
    chosen: [user('Name a fruit.'), ai('An apple.'), user('Another?'), ai('A pear.')],
    rejected: [user('Name a fruit.'), ai('An apple.'), user('Another?'), ai('A rock.')],
  },
  { prompt: [user('Count to three.')], chosen: 'One, two, three.', rejected: 'Seven.' },
]);

// Short sequences, small batches, few steps: the whole file runs in seconds on two cores.
const SFT = { data: conversations, batchSize: 3, seqLen: 64, lr: 1e-2, warmupSteps: 1 };
const DPO = { data: preferences, batchSize: 2, seqLen: 64, lr: 1e-3, schedule: 'constant', warmupSteps: 0 };

const metricsOf = (run: string) => readMetrics(path.join(run, 'metrics.jsonl'));
const latest = (run: string): string => {
  const { name } = JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as {
    name: string;
  };
  return path.join(run, 'checkpoints', name);
};
const weights = (run: string): Buffer => fs.readFileSync(path.join(latest(run), 'model.safetensors'));

/** The one-line JSON summary each command prints to stdout, and its stderr progress, kept quiet. */
let printed: string[] = [];
beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(
    (...a: unknown[]) => void printed.push(a.map(String).join(' ')),
  );
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});
const lastSummary = () =>
  JSON.parse(printed[printed.length - 1]) as {
    steps: number;
    loss: number | null;
    checkpoint: string | null;
  };

/** Runs that later tests build on, made once whichever test needs them first (so `-t` filters work). */
const once = <T>(f: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
};
/** The SFT run DPO starts from, and the summary it printed. */
const sftRun = at('sft-run');
const sftBase = once(async () => {
  printed = [];
  await sftCommand({ ...SFT, model: modelDir, out: sftRun, steps: 6, saveEvery: 3 });
  return lastSummary();
});
const dpoFrom = async (): Promise<string> => (await sftBase(), latest(sftRun));
const dpoRun = at('dpo-run');
const dpoBase = once(async () => {
  const model = await dpoFrom();
  printed = [];
  await dpoCommand({ ...DPO, model, out: dpoRun, steps: 4 });
  return lastSummary();
});
/** A DPO run of 2 steps, to be resumed. */
const dpoSplit = at('dpo-split');
const dpoSplitBase = once(async () =>
  dpoCommand({ ...DPO, model: await dpoFrom(), out: dpoSplit, steps: 2 }),
);

describe('minicpm sft', () => {
  it('trains on conversations, writes metrics.jsonl and a complete checkpoint', async () => {
    const summary = await sftBase();
    const m = metricsOf(sftRun);
    expect(m.map((x) => x.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.every((x) => x.phase === 'sft' && Number.isFinite(x.loss) && x.loss > 0)).toBe(true);
    expect(m[5].loss).toBeLessThan(m[0].loss); // it learns something
    // only assistant tokens and closing EOS are supervised: no eval, no stats on SFT lines
    expect(m[0].stats).toBeUndefined();
    expect(summary).toMatchObject({ steps: 6, checkpoint: latest(sftRun) });
    expect(summary.loss).toBeCloseTo(m[5].loss, 12);

    const ckpt = latest(sftRun);
    expect(path.basename(ckpt)).toBe('step-00000006');
    expect(fs.existsSync(path.join(sftRun, 'checkpoints', 'step-00000003'))).toBe(true);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json'])
      expect(fs.existsSync(path.join(ckpt, f)), f).toBe(true);
    const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'trainer_state.json'), 'utf8')) as {
      step: number;
      data: unknown;
      config: Record<string, unknown>;
    };
    expect(state.step).toBe(6);
    expect(state.data).toEqual({ consumed: 18 });
    expect(state.config).toMatchObject({ stage: 'sft', steps: 6, seqLen: 64, batchSize: 3 });
    const runConfig = JSON.parse(fs.readFileSync(path.join(sftRun, 'run_config.json'), 'utf8')) as {
      stage: string;
      model_config: { vocab_size: number };
    };
    expect(runConfig.stage).toBe('sft');
    expect(runConfig.model_config.vocab_size).toBe(vocabSize);
    // the checkpoint is a Hugging Face folder with its tokenizer: a model folder for the next stage
    const model = await loadModel(ckpt);
    expect(model.config.vocabSize).toBe(vocabSize);
    expect(loadTokenizer(ckpt).tokenizer.vocabSize).toBe(vocabSize);
  });

  it('resumes exactly: 3 steps, then --resume to 7, equals 7 steps straight', async () => {
    // a copy of the starting model that is gone by the time the run resumes: the checkpoint's tokenizer serves
    const own = at('model-copy');
    fs.cpSync(modelDir, own, { recursive: true });
    // WSD with an explicit decay start: the schedule of the first 3 steps does not depend on --steps;
    // validation every step on fixed held-out batches
    const evalFlags = { evalData: conversations, evalEvery: 1, evalBatches: 2 };
    const flags = { ...SFT, ...evalFlags, model: own, decayStart: 5, decay: 'linear', decaySteps: 2 };
    const straight = at('sft-straight');
    await sftCommand({ ...flags, out: straight, steps: 7 });
    const split = at('sft-split');
    await sftCommand({ ...flags, out: split, steps: 3 });
    expect(metricsOf(split).map((x) => x.step)).toEqual([0, 1, 2]);
    fs.rmSync(own, { recursive: true });
    // resuming from the checkpoint folder itself continues the run in its run folder
    await sftCommand({ resume: path.join(split, 'checkpoints', 'step-00000003'), steps: 7 });

    const a = metricsOf(straight);
    const b = metricsOf(split);
    expect(b.map((x) => x.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    a.forEach((x, i) => {
      expect(Math.abs(x.loss - b[i].loss)).toBeLessThan(1e-6);
      expect(b[i].lr).toBe(x.lr);
      expect(b[i].tokens).toBe(x.tokens);
      expect(Math.abs(x.val_loss! - b[i].val_loss!)).toBeLessThan(1e-6);
    });
    expect(a[6].lr).toBeLessThan(a[4].lr); // the decay did happen, after the resume point
    expect(path.basename(latest(split))).toBe('step-00000007');
    expect(weights(split).equals(weights(straight))).toBe(true);
  });
});

describe('minicpm dpo', () => {
  it('starts from the SFT model at ln 2, saves the reference log-probs and reports reward stats', async () => {
    const summary = await dpoBase();
    const out = dpoRun;
    const m = metricsOf(out);
    expect(m.map((x) => x.step)).toEqual([0, 1, 2, 3]);
    expect(m.every((x) => x.phase === 'dpo' && Number.isFinite(x.loss))).toBe(true);
    // the policy is its reference at the first step: h = 0, loss = −log σ(0) = ln 2, zero rewards
    expect(Math.abs(m[0].loss - Math.LN2)).toBeLessThan(1e-6);
    const keys = [
      'reward_chosen',
      'reward_rejected',
      'reward_margin',
      'reward_accuracy',
      'logp_chosen',
      'logp_rejected',
    ];
    for (const x of m) {
      expect(Object.keys(x.stats ?? {}).sort()).toEqual([...keys].sort());
      expect(x.stats!.reward_accuracy).toBeGreaterThanOrEqual(0);
      expect(x.stats!.reward_accuracy).toBeLessThanOrEqual(1);
    }
    expect(Math.abs(m[0].stats!.reward_margin)).toBeLessThan(1e-4);
    expect(Math.abs(m[0].stats!.reward_chosen)).toBeLessThan(1e-4);
    expect(m[0].stats!.logp_chosen).toBeLessThan(0);
    expect(m[3].stats!.reward_margin).not.toBe(0); // the policy moved away from the reference

    const ref = JSON.parse(fs.readFileSync(path.join(out, 'reference_logps.json'), 'utf8')) as {
      fingerprint: string;
      chosen: number[];
      rejected: number[];
    };
    expect(ref.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(ref.chosen).toHaveLength(4);
    expect(ref.rejected).toHaveLength(4);
    expect([...ref.chosen, ...ref.rejected].every((v) => Number.isFinite(v) && v < 0)).toBe(true);
    const state = JSON.parse(fs.readFileSync(path.join(latest(out), 'trainer_state.json'), 'utf8')) as {
      config: Record<string, unknown>;
    };
    expect(state.config).toMatchObject({ stage: 'dpo', beta: 0.1, loss: 'sigmoid', steps: 4 });
    expect(summary).toMatchObject({ steps: 4, checkpoint: latest(out) });
  });

  it('resumes exactly and reuses reference_logps.json untouched', async () => {
    const straight = at('dpo-straight');
    await dpoCommand({ ...DPO, model: await dpoFrom(), out: straight, steps: 5 });
    await dpoSplitBase();
    const split = dpoSplit;
    const refFile = path.join(split, 'reference_logps.json');
    const refText = fs.readFileSync(refFile, 'utf8');
    const refMtime = fs.statSync(refFile).mtimeMs;
    await dpoCommand({ resume: split, steps: 5 });

    expect(fs.readFileSync(refFile, 'utf8')).toBe(refText);
    expect(fs.statSync(refFile).mtimeMs).toBe(refMtime);
    expect(refText).toBe(fs.readFileSync(path.join(straight, 'reference_logps.json'), 'utf8'));
    const a = metricsOf(straight);
    const b = metricsOf(split);
    expect(b.map((x) => x.step)).toEqual([0, 1, 2, 3, 4]);
    a.forEach((x, i) => {
      expect(Math.abs(x.loss - b[i].loss)).toBeLessThan(1e-6);
      expect(Math.abs(x.stats!.reward_margin - b[i].stats!.reward_margin)).toBeLessThan(1e-6);
      expect(b[i].stats!.reward_accuracy).toBe(x.stats!.reward_accuracy);
    });
    expect(weights(split).equals(weights(straight))).toBe(true);
  });

  it('refuses to resume against another data file or without its reference', async () => {
    await dpoSplitBase();
    const split = dpoSplit;
    const other = jsonl('dpo-other.jsonl', [{ prompt: 'Hi?', chosen: 'Hello.', rejected: 'Go.' }]);
    await expect(dpoCommand({ resume: split, steps: 6, data: other })).rejects.toThrow(
      /reference_logps\.json was computed for other data/,
    );
    const copy = at('dpo-copy');
    fs.cpSync(split, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'reference_logps.json'));
    const err = await dpoCommand({ resume: copy, steps: 6 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlignError);
    expect((err as Error).message).toMatch(/reference_logps\.json is missing/);
  });
});

describe('errors', () => {
  const fails = async (p: Promise<void>): Promise<Error> => {
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AlignError);
    return e as Error;
  };

  it('name the missing --model, --data and --out', async () => {
    const out = at('never');
    expect((await fails(sftCommand({ data: conversations, out }))).message).toMatch(/sft needs --model/);
    expect((await fails(sftCommand({ model: modelDir, out }))).message).toMatch(/sft needs --data/);
    expect((await fails(sftCommand({ model: modelDir, data: conversations }))).message).toMatch(
      /sft needs --out/,
    );
    expect((await fails(dpoCommand({ data: preferences, out }))).message).toMatch(/dpo needs --model/);
    expect((await fails(dpoCommand({ model: modelDir, out }))).message).toMatch(/dpo needs --data/);
    expect((await fails(dpoCommand({ model: modelDir, data: preferences }))).message).toMatch(
      /dpo needs --out/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it('name the file and line of a malformed record', async () => {
    const bad = at('bad.jsonl');
    fs.writeFileSync(bad, JSON.stringify({ messages: [user('hi'), ai('hello')] }) + '\n\n{"messages": [\n');
    const e = await fails(sftCommand({ ...SFT, model: modelDir, data: bad, out: at('bad-run') }));
    expect(e.message).toContain(`${bad}:3`);
    expect(e.message).toMatch(/not a JSON object/);
    const noAnswer = jsonl('no-answer.jsonl', [
      { messages: [user('hi'), ai('hello')] },
      { messages: [user('?')] },
    ]);
    const e2 = await fails(sftCommand({ ...SFT, model: modelDir, data: noAnswer, out: at('bad-run') }));
    expect(e2.message).toContain(`${noAnswer}:2`);
    const badPref = jsonl('bad-pref.jsonl', [{ prompt: 'q', chosen: 'a' }]);
    const e3 = await fails(dpoCommand({ ...DPO, model: modelDir, data: badPref, out: at('bad-run') }));
    expect(e3.message).toContain(`${badPref}:1`);
  });

  it('refuse to resume a run with the other command', async () => {
    await dpoBase();
    const e = await fails(sftCommand({ resume: dpoRun, steps: 10 }));
    expect(e.message).toMatch(/is not a sft run: resume it with the command that started it/);
    const e2 = await fails(dpoCommand({ resume: sftRun, steps: 10 }));
    expect(e2.message).toMatch(/is not a dpo run/);
  });
});
