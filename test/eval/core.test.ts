/** Prompts, post-processing, likelihood scoring and the task runner on a tiny model. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { answerStyle } from '../../src/eval/answer-styles.js';
import { runPython } from '../../src/eval/code-exec.js';
import { EvalError } from '../../src/eval/errors.js';
import { humanEvalProgram, mbppProgram, mbppPrompt } from '../../src/eval/code-prompts.js';
import { optionLogProbs } from '../../src/eval/likelihood.js';
import { extractNumber, normalizeNumber, prefixMatch } from '../../src/eval/postprocess.js';
import { answerPrompt, choicePrompt, pickShots } from '../../src/eval/prompts.js';
import { limitItems, runTask } from '../../src/eval/runner.js';
import type { AnswerItem, ChoiceItem, CodeItem, TaskData } from '../../src/eval/types.js';
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
const model = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(3));

const choice = (id: string, subject: string, answer = 1): ChoiceItem => ({
  kind: 'choice',
  id,
  subject,
  question: `What is ${id}?`,
  options: ['red', 'blue', 'green', 'white'],
  answer,
});

describe('prompts', () => {
  it('multiple choice in MiniCPM harness format, few-shot examples with their targets', () => {
    const shot = choice('s1', 'colours', 2);
    expect(choicePrompt(choice('q', 'colours'), [shot])).toBe(
      'Question:\nWhat is s1?\nRequirement:\nChoose and respond with the letter of the correct answer, including the parentheses.\nOptions:\n(A) red\n(B) blue\n(C) green\n(D) white\nAnswer:\n(C)' +
        '\n\n' +
        'Question:\nWhat is q?\nRequirement:\nChoose and respond with the letter of the correct answer, including the parentheses.\nOptions:\n(A) red\n(B) blue\n(C) green\n(D) white\nAnswer:\n',
    );
    expect(choicePrompt(choice('q', 'c'), [], { chat: true })).toMatch(
      /^<用户>Question:\n[\s\S]*Answer:\n<AI>$/,
    );
    const a: AnswerItem = {
      kind: 'answer',
      id: 'g',
      subject: 'gsm8k',
      question: 'Two plus two?',
      answer: '4',
    };
    const s: AnswerItem = {
      ...a,
      id: 'h',
      question: 'One plus one?',
      answer: '2',
      solution: '1+1=2\n#### 2',
    };
    expect(answerPrompt(a, [s])).toBe(
      'Question: One plus one?\nAnswer: 1+1=2\n#### 2\n\nQuestion: Two plus two?\nAnswer: ',
    );
  });

  it('few-shot examples come from the same subject first and never include the item', () => {
    const pool = [choice('a', 'x'), choice('b', 'y'), choice('c', 'y'), choice('d', 'x')];
    expect(pickShots(choice('d', 'x'), pool, 3).map((p) => p.id)).toEqual(['a', 'b', 'c']);
    expect(pickShots(choice('z', 'y'), pool, 2).map((p) => p.id)).toEqual(['b', 'c']);
    expect(pickShots(choice('z', 'y'), pool, 0)).toEqual([]);
  });

  it('limits take subjects in turn', () => {
    const items = [choice('a1', 'a'), choice('a2', 'a'), choice('a3', 'a'), choice('b1', 'b')];
    expect(limitItems(items, 3).map((i) => i.id)).toEqual(['a1', 'b1', 'a2']);
    expect(limitItems(items, 0)).toHaveLength(4);
  });
});

describe('post-processing', () => {
  it('prefix match and GSM8K numbers', () => {
    expect(prefixMatch('  (B) because blue', '(B)')).toBe(true);
    expect(prefixMatch('The answer is (B)', '(B)')).toBe(false);
    expect(extractNumber('so 3 + 4 = 7\n#### 1,234')).toBe('1234');
    expect(extractNumber('She has 12 apples, then 18.')).toBe('18');
    expect(extractNumber('no digits here')).toBeNull();
    expect(normalizeNumber('3.50')).toBe('3.5');
    expect(normalizeNumber('-0')).toBe('0');
    expect(normalizeNumber('12.')).toBe('12');
    expect(normalizeNumber('1e5')).toBeNull();
  });
});

describe('likelihood scoring', () => {
  it('equals one full forward over prompt + option, for every option', () => {
    const prompt = tok.encode('Question: which colour? Answer:');
    const options = ['blue', ' a long green answer', 'x'].map((s) => tok.encode(s));
    const got = optionLogProbs(model, prompt, options);
    options.forEach((opt, i) => {
      const ids = [...prompt, ...opt];
      const want = noGrad(() =>
        scope(() => {
          const lp = logSoftmax(
            model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')),
          ).toArray();
          const V = model.config.vocabSize;
          let s = 0;
          for (let t = prompt.length; t < ids.length; t++) s += lp[(t - 1) * V + ids[t]];
          return s;
        }),
      );
      expect(got[i].sum).toBeCloseTo(want, 3);
      expect(got[i].mean).toBeCloseTo(want / opt.length, 3);
    });
  });
});

describe('runner', () => {
  const items = [choice('m1', 'a', 0), choice('m2', 'a', 1), choice('m3', 'b', 2), choice('m4', 'b', 3)];
  const task: TaskData = { name: 'toy', items, shots: [choice('s', 'a', 0)] };

  it('picks the most likely letter in PPL mode, averages subjects, and resumes from its records', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-eval-')), 'toy.jsonl');
    const r = await runTask(model, tok, task, {
      mode: 'ppl',
      shots: 1,
      limit: 0,
      seed: 0,
      recordsFile: file,
    });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    const subjects = r.ppl!.subjects;
    expect(r.score).toBeCloseTo((subjects.a.accuracy + subjects.b.accuracy) / 2, 12);
    // a rerun reads every item back instead of scoring it again
    let seen = 0;
    const again = await runTask(model, tok, task, {
      mode: 'ppl',
      shots: 1,
      limit: 0,
      seed: 0,
      recordsFile: file,
      onItem: () => seen++,
    });
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(4);
    expect(again).toEqual(r);
    expect(seen).toBe(4);
  });

  it('runs generation too in --mode both, and refuses what a mode cannot score', async () => {
    const r = await runTask(
      model,
      tok,
      { ...task, items: items.slice(0, 2) },
      { mode: 'both', shots: 0, limit: 0, seed: 1 },
    );
    expect(r.gen).toBeDefined();
    expect(r.ppl).toBeDefined();
    expect(r.score).toBe(Math.max(r.ppl!.score, r.gen!.score));
    const a: AnswerItem = { kind: 'answer', id: 'g', subject: 'g', question: 'q', answer: '4' };
    await expect(
      runTask(model, tok, { name: 'g', items: [a], shots: [] }, { mode: 'ppl', shots: 0, limit: 0, seed: 0 }),
    ).rejects.toThrow(/scored by generation/);
    const c: CodeItem = { kind: 'code', id: 'c', subject: 'c', prompt: 'def f():', tests: 'assert f()' };
    await expect(
      runTask(model, tok, { name: 'c', items: [c], shots: [] }, { mode: 'ppl', shots: 0, limit: 0, seed: 0 }),
    ).rejects.toThrow(/scored by running it/);
  });
});

describe('code execution', () => {
  const he: CodeItem = {
    kind: 'code',
    id: 'HumanEval/0',
    subject: 'humaneval',
    prompt: 'def add(a, b):\n    """Return a + b."""\n',
    tests: 'def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n',
    entryPoint: 'add',
  };
  it('a right completion passes, a wrong one fails, an endless one is stopped', () => {
    expect(runPython(humanEvalProgram(he, '    return a + b\n')).status).toBe('passed');
    const wrong = runPython(humanEvalProgram(he, '    return a - b\n'));
    expect(wrong.status).toBe('failed');
    expect(wrong.error).toMatch(/AssertionError/);
    const t0 = performance.now();
    expect(runPython(humanEvalProgram(he, '    while True: pass\n'), 500).status).toBe('timeout');
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  it('MBPP programs keep the code before [DONE]; prompts show the tests', () => {
    const mb: CodeItem = {
      kind: 'code',
      id: 'mbpp/1',
      subject: 'mbpp',
      prompt: 'Write a function to double x.',
      tests: 'assert double(2) == 4',
    };
    expect(mbppPrompt(mb, [])).toBe(
      'You are an expert Python programmer, and here is your task: Write a function to double x. Your code should pass these tests:\n\nassert double(2) == 4\n[BEGIN]\n',
    );
    expect(runPython(mbppProgram(mb, 'def double(x):\n    return 2 * x\n[DONE]\nrubbish(')).status).toBe(
      'passed',
    );
  });
});

describe('free-form answer styles', () => {
  it('GSM8K numbers, MATH boxed answers after LaTeX normalisation, BBH "the answer is"', () => {
    const g = answerStyle('gsm8k');
    expect(g.same(g.extract('5 + 7 = 12\n#### 12')!, '12')).toBe(true);
    const m = answerStyle('math');
    expect(m.extract('so $x = \\boxed{\\dfrac{1}{2}}$.')).toBe('\\dfrac{1}{2}');
    expect(m.same('\\dfrac{1}{2}', '\\frac{1}{2}')).toBe(true);
    expect(m.same('\\left( 3, 4 \\right)', '(3,4)')).toBe(true);
    expect(m.same('90^\\circ', '90')).toBe(true);
    expect(m.same('0.50', '.5')).toBe(true);
    expect(m.same('\\frac{1}{3}', '\\frac{1}{2}')).toBe(false);
    const b = answerStyle('bbh', '/nonexistent');
    expect(b.extract('Step one. So the answer is (B).')).toBe('(B)');
    expect(b.extract('… so the answer is No.\nQ:')).toBe('No');
    expect(b.extract('no conclusion')).toBeNull();
    expect(b.same('valid.', 'valid')).toBe(true);
    expect(() =>
      b.prompt({ kind: 'answer', id: 'x', subject: 'navigate', question: 'q', answer: 'No' }, []),
    ).toThrow(EvalError);
  });
});
