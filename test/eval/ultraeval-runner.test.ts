/**
 * The ultraeval protocol's runner on a tiny model: PPL picks equal a transcription of UltraEval's rule over
 * full-sequence log-probabilities (ARC: lowest −Σ over all tokens after BOS; HellaSwag: lowest −mean over
 * the tokens after the per-token log-probs all options share), generation is matched by the task's metric
 * and resumes from its records; and `minicpm eval --dry-run --dump-prompts` writes the prompts UltraEval
 * renders.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { evalCommand } from '../../src/cli/eval-command.js';
import { EvalError } from '../../src/eval/errors.js';
import { renderSubject } from '../../src/eval/ultraeval/prompts.js';
import type { UeRecord, UeSubject } from '../../src/eval/ultraeval/records.js';
import { decider, runUltraEvalTask, ultraEvalPrompts } from '../../src/eval/ultraeval/runner.js';
import {
  bbhPost,
  humanevalPost,
  inMatch,
  prefixMatch,
  qaMatch,
} from '../../src/eval/ultraeval/postprocess.js';
import { UE_TASKS } from '../../src/eval/ultraeval/tasks.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { logSoftmax, noGrad, Rng, scope, Tensor } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
const model = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5));

const rec = (
  subject: string,
  index: number,
  question: string,
  options: string[],
  answer: number,
): UeRecord => ({
  subject,
  index,
  question,
  options,
  scores: options.map((_, i) => (i === answer ? 1 : 0)),
  answer: '',
});

/** Log-probs of tokens 1..n−1 of [BOS, …encode(text)] from one full forward (vLLM's prompt_logprobs[1:]). */
function promptLogprobs(text: string): number[] {
  const ids = [tok.bosId, ...tok.encode(text)];
  return noGrad(() =>
    scope(() => {
      const lp = logSoftmax(
        model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')),
      ).toArray();
      const V = model.config.vocabSize;
      return ids.slice(1).map((id, t) => lp[t * V + id]);
    }),
  );
}

/** UltraEval's log_prob pick: GeneralTorchPPL (−Σ) or GeneralTorchPPLNorm (−mean after the shared prefix). */
function ultraEvalPick(lists: number[][], reduce: 'sum' | 'mean'): number {
  let shared = 0;
  const same = (a: number, b: number) => Math.abs(a - b) < 1e-4;
  while (lists.every((l) => shared < l.length && same(l[shared], lists[0][shared]))) shared++;
  const neg = lists.map((l) => {
    const rest = reduce === 'sum' ? l : l.slice(shared);
    const s = rest.reduce((a, b) => a + b, 0);
    return -(reduce === 'sum' ? s : s / rest.length);
  });
  return neg.indexOf(Math.min(...neg));
}

describe('ultraeval runner', () => {
  const arc: UeSubject = {
    subject: 'ARC-Easy',
    dropped: [],
    records: [
      rec('ARC-Easy', 0, 'Which colour is the sky?', ['blue', 'green', 'a red one', 'white'], 0),
      rec('ARC-Easy', 1, 'What do dogs do?', ['sleep in the sun', 'jump', 'run fast'], 2),
      rec('ARC-Easy', 2, 'The fox is', ['quick', 'quick and brown', 'lazy'], 1),
    ],
  };

  it.each(['arc-e', 'hellaswag'])(
    '%s PPL picks what UltraEval picks from full-sequence log-probs',
    async (name) => {
      const task = UE_TASKS[name];
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-ue-')), 'ppl.jsonl');
      const r = await runUltraEvalTask(model, tok, task, [arc], {
        mode: 'ppl',
        seed: 0,
        limit: 0,
        recordsFile: file,
      });
      const picks = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { ppl: { pick: number } }).ppl.pick);
      const prompts = renderSubject(task, arc, { seed: 0, ppl: true });
      const want = prompts.map((p) =>
        ultraEvalPick(
          p.record.options.map((o) => promptLogprobs(p.prompt + o)),
          task.ppl!.reduce,
        ),
      );
      expect(picks).toEqual(want);
      const correct = want.filter((w, i) => arc.records[i].scores[w] === 1).length;
      expect(r.ppl!.subjects['ARC-Easy'].accuracy).toBeCloseTo(correct / 3, 12);
      expect(r.gen).toBeUndefined();
    },
  );

  it('generation: prefix match on the raw output, records resume, subjects averaged', async () => {
    const subjects: UeSubject[] = ['anatomy', 'virology'].map((s) => ({
      subject: s,
      dropped: [],
      records: [0, 1, 2, 3].map((i) =>
        rec(s, i, `Question ${s} ${i}?`, ['red', 'blue', 'green', 'white'], i),
      ),
    }));
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-ue-')), 'mmlu.jsonl');
    const o = { mode: 'gen' as const, seed: 1, shots: 2, limit: 3, recordsFile: file };
    const r = await runUltraEvalTask(model, tok, UE_TASKS.mmlu, subjects, o);
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { id: string; subject: string; gen: { correct: boolean; output: string } },
      );
    // the limit takes the subjects' first items in turn
    expect(lines.map((l) => l.id)).toEqual(['mmlu/anatomy/0', 'mmlu/virology/0', 'mmlu/anatomy/1']);
    const targets = ['(A)', '(A)', '(B)'];
    lines.forEach((l, i) => expect(l.gen.correct).toBe(prefixMatch(l.gen.output, targets[i])));
    const acc = (s: string) => {
      const mine = lines.filter((l) => l.subject === s);
      return mine.filter((l) => l.gen.correct).length / mine.length;
    };
    expect(r.score).toBeCloseTo((acc('anatomy') + acc('virology')) / 2, 12);
    let seen = 0;
    const again = await runUltraEvalTask(model, tok, UE_TASKS.mmlu, subjects, { ...o, onItem: () => seen++ });
    expect(again).toEqual(r);
    expect(seen).toBe(3);
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('refuses PPL where UltraEval has none', () => {
    expect(() => ultraEvalPrompts(UE_TASKS.mmlu, [arc], { mode: 'ppl', seed: 0, limit: 0 })).toThrow(
      EvalError,
    );
  });
});

const BENCH = path.resolve(import.meta.dirname, '../../../shared/data/benchmarks');

describe.skipIf(!fs.existsSync(BENCH))('minicpm eval --dry-run --dump-prompts', () => {
  const base = { tasks: 'mmlu', protocol: 'ultraeval', limit: '57', seed: '0', mathSet: 'full', data: BENCH };

  it('writes one line per item with UltraEval prompts, no model needed', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-dump-')), 'p.jsonl');
    await evalCommand({ ...base, dryRun: true, dumpPrompts: file });
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(57);
    expect(Object.keys(lines[0]).sort()).toEqual(['index', 'prompt', 'subject', 'target', 'task']);
    const fixtures = JSON.parse(
      fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'ultraeval', 'prompts.json'), 'utf8'),
    ) as {
      task: string;
      subject: string;
      index: number;
      seed: number;
      shots: number;
      prompt: string;
      targets: string[];
    }[];
    const want = fixtures.find(
      (f) => f.task === 'mmlu' && f.subject === 'anatomy' && f.index === 0 && f.seed === 0 && f.shots === 5,
    )!;
    const got = lines.find((l) => l.subject === 'anatomy' && l.index === 0)!;
    expect(got.prompt).toBe(want.prompt);
    expect(got.target).toBe(want.targets[0]);
  });

  it('says what to do with inconsistent options', async () => {
    await expect(evalCommand({ ...base, dumpPrompts: 'x.jsonl' })).rejects.toThrow(/--dry-run/);
    await expect(evalCommand({ ...base })).rejects.toThrow(/--model/);
    await expect(evalCommand({ ...base, dryRun: true, mode: 'both' })).rejects.toThrow(/--mode/);
    await expect(evalCommand({ ...base, dryRun: true, protocol: 'lm-eval' })).rejects.toThrow(/--protocol/);
    await expect(evalCommand({ ...base, dryRun: true, protocol: 'minicpm-legacy' })).rejects.toThrow(
      /ultraeval/,
    );
    await expect(evalCommand({ ...base, dryRun: true, mathSet: '1000' })).rejects.toThrow(/--math-set/);
  });
});

describe('ending generation early never changes the outcome', () => {
  const record = rec('s', 0, 'Which is blue?', ['sky', 'grass', 'sun', 'snow'], 0);
  const prompt = { record, prompt: '', targets: ['(A)'], shots: [] };
  const bbhPrompt = { ...prompt, targets: ['(a)', 'a'] };
  const outputs = [
    ' (A) sky\nmore',
    '\n(B)\n\nQuestion: x',
    '  (A',
    'A.\nThe sky',
    'Let me think.\n\nSo the answer is (A).',
    'Step one.\nSo the answer is (A).\n\nQ: next',
    '\n    return a\n\ndef g():\n    pass',
    '    x = 1\nif __name__:\n',
    '(A)',
  ];
  const suffixes = ['', ' tail', '\n\nmore (B)', 'x\n', '\nSo the answer is (B).'];
  const outcome: Record<string, (t: string) => unknown> = {
    mmlu: (t) => prefixMatch(t, '(A)'),
    'arc-e': (t) => qaMatch(t, '(A)', record.question, record.options, 'sky'),
    bbh: (t) => inMatch(bbhPost(t), ['(a)', 'a']),
    humaneval: (t) => humanevalPost(t),
  };
  it.each(Object.keys(outcome))('%s', (name) => {
    const decided = decider(UE_TASKS[name], name === 'bbh' ? bbhPrompt : prompt)!;
    let early = 0;
    for (const out of outputs)
      for (let n = 0; n <= out.length; n++) {
        const t = out.slice(0, n);
        if (!decided(t)) continue;
        early++;
        for (const s of suffixes)
          expect(outcome[name](t + s), JSON.stringify([t, s])).toEqual(outcome[name](t));
      }
    expect(early).toBeGreaterThan(0);
  });
});
