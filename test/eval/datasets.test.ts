/**
 * Benchmark loaders against the real files in ../shared/data/benchmarks (skipped, visibly, without them),
 * and their error paths against small broken copies written to a temp folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BBH_SUBTASKS,
  BENCHMARKS_ENV,
  bbhShotPrompt,
  defaultBenchmarksDir,
  gsm8kAnswer,
  lastBoxed,
  loadTask,
  stripCalculatorAnnotations,
  TASK_NAMES,
} from '../../src/eval/datasets/index.js';
import { EvalError } from '../../src/eval/errors.js';
import type { AnswerItem, ChoiceItem, CodeItem, EvalItem, TaskData } from '../../src/eval/types.js';

const BENCH = path.resolve(import.meta.dirname, '../../../shared/data/benchmarks');
const haveBench = fs.existsSync(BENCH);

/** Sizes of the scored splits as published; the files agree with every one. */
const SIZES: Record<string, number> = {
  mmlu: 14042,
  cmmlu: 11582,
  ceval: 1346,
  'arc-e': 2376,
  'arc-c': 1172,
  hellaswag: 10042,
  gsm8k: 1319,
  math: 500,
  bbh: 6511,
  humaneval: 164,
  mbpp: 427,
};

const SHOT_SIZES: Record<string, number> = {
  mmlu: 285,
  cmmlu: 335,
  ceval: 260,
  'arc-e': 2251,
  'arc-c': 1119,
  hellaswag: 0,
  gsm8k: 7473,
  math: 4500,
  bbh: 0,
  humaneval: 0,
  mbpp: 3,
};

const SUBJECTS: Record<string, number> = { mmlu: 57, cmmlu: 67, ceval: 52, bbh: 27, math: 7 };

function byId<I extends EvalItem>(task: TaskData<I>, id: string): I {
  const item = [...task.items, ...task.shots].find((it) => it.id === id);
  if (!item) throw new Error(`no item ${id}`);
  return item;
}

const choice = (t: TaskData, id: string) => byId(t, id) as ChoiceItem;
const answer = (t: TaskData, id: string) => byId(t, id) as AnswerItem;
const code = (t: TaskData, id: string) => byId(t, id) as CodeItem;

describe('gsm8k answer extraction', () => {
  it('takes the number after ####, without thousands separators', () => {
    expect(gsm8kAnswer('She makes $18.\n#### 18')).toBe('18');
    expect(gsm8kAnswer('So 1,600 in all.\n#### 1,600')).toBe('1600');
    expect(gsm8kAnswer('#### -3 ')).toBe('-3');
    expect(gsm8kAnswer('no marker here')).toBeUndefined();
    expect(gsm8kAnswer('#### ')).toBeUndefined();
  });

  it('removes calculator annotations and keeps the rest', () => {
    expect(stripCalculatorAnnotations('48/2 = <<48/2=24>>24 clips.\n#### 72')).toBe(
      '48/2 = 24 clips.\n#### 72',
    );
  });
});

describe('lastBoxed', () => {
  it('returns the argument of the last \\boxed, braces balanced', () => {
    expect(lastBoxed('so $\\boxed{1}$ or $\\boxed{\\frac{\\pi}{2}}$.')).toBe('\\frac{\\pi}{2}');
    expect(lastBoxed('\\fbox{x^{2}}')).toBe('x^{2}');
    expect(lastBoxed('$\\boxed 5$')).toBe('5');
    expect(lastBoxed('\\boxed{unclosed')).toBeUndefined();
    expect(lastBoxed('none')).toBeUndefined();
  });
});

describe('benchmarks folder', () => {
  const saved = process.env[BENCHMARKS_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[BENCHMARKS_ENV];
    else process.env[BENCHMARKS_ENV] = saved;
  });

  it('defaults to ../shared/data/benchmarks beside the package and honours MINICPM_BENCHMARKS', () => {
    delete process.env[BENCHMARKS_ENV];
    expect(defaultBenchmarksDir()).toBe(BENCH);
    process.env[BENCHMARKS_ENV] = 'some/where';
    expect(defaultBenchmarksDir()).toBe(path.resolve('some/where'));
  });

  it('says how to provide a missing folder', () => {
    const missing = path.join(os.tmpdir(), 'minicpm-no-such-benchmarks');
    expect(() => loadTask('mmlu', missing)).toThrow(EvalError);
    expect(() => loadTask('gsm8k', missing)).toThrow(/MINICPM_BENCHMARKS/);
    expect(() => loadTask('mmlu', missing)).toThrow(/\.\.\/shared\/data\/benchmarks/);
  });

  it('rejects an unknown task by listing the known ones', () => {
    expect(() => loadTask('mmlu-pro', BENCH)).toThrow(/unknown task 'mmlu-pro'.*cmmlu/);
  });
});

describe('malformed files', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-bench-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const write = (rel: string, text: string) => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return file;
  };
  const header = 'question,choice0,choice1,choice2,choice3,answer\n';
  const good = header + 'q1,a,b,c,d,0\n"multi\nline q",a,b,c,d,3\n';

  it('names file:line of a CSV row with a missing field', () => {
    write('mmlu/dev/x_dev.csv', good);
    const file = write('mmlu/test/x_test.csv', good + 'q3,a,b,c,1\n');
    expect(() => loadTask('mmlu', root)).toThrow(`${file}:5`);
  });

  it('names file:line of an answer out of range', () => {
    write('mmlu/dev/x_dev.csv', good);
    const file = write('mmlu/test/x_test.csv', good + 'q3,a,b,c,d,4\n');
    expect(() => loadTask('mmlu', root)).toThrow(new RegExp(`${file}:5: answer "4"`));
  });

  it('loads a well-formed copy, multi-line fields included', () => {
    write('mmlu/dev/x_dev.csv', good);
    write('mmlu/test/x_test.csv', good);
    const t = loadTask('mmlu', root);
    expect(t.items.map((i) => i.id)).toEqual(['mmlu/x/0', 'mmlu/x/1']);
    expect(t.shots[0].id).toBe('mmlu/dev/x/0');
    expect((t.items[1] as ChoiceItem).question).toBe('multi\nline q');
  });

  it('refuses a subject without few-shot file', () => {
    write('mmlu/test/y_test.csv', good);
    expect(() => loadTask('mmlu', root)).toThrow(/no few-shot file for subject\(s\) y/);
    fs.rmSync(path.join(root, 'mmlu/test/y_test.csv'));
  });

  it('names file:line of a bad JSON line and of a bad gsm8k answer', () => {
    const ok = '{"question": "q", "answer": "1 + 1 = <<1+1=2>>2\\n#### 2"}\n';
    write('gsm8k/train.jsonl', ok);
    const test = write('gsm8k/test.jsonl', ok + '{"question": "q", "answer": \n');
    expect(() => loadTask('gsm8k', root)).toThrow(`${test}:2: not valid JSON`);
    write('gsm8k/test.jsonl', ok + '{"question": "q", "answer": "no marker"}\n');
    expect(() => loadTask('gsm8k', root)).toThrow(`${test}:2: answer should end with '#### <number>'`);
    write('gsm8k/test.jsonl', ok + '{"question": 7, "answer": "#### 1"}\n');
    expect(() => loadTask('gsm8k', root)).toThrow(`${test}:2: field "question" should be a string`);
  });

  it('names the HellaSwag line that breaks the 6-line layout, and an undecodable file', () => {
    // bzip2 of 'ctx\n7\na\nb\nc\nd\n' and of 'ctx\n1\na\nb\nc\n' (Node has no bzip2 encoder).
    const badLabel = 'QlpoOTFBWSZTWUE0MQUAAAVJgAAQAIA8AARAIAAiGmj0hDAiY9Aq1PF3JFOFCQQTQxBQ';
    const fiveLines = 'QlpoOTFBWSZTWURlBBUAAATJgAAQIAA4AARAIAAhk0wIYCr3IR1wu5IpwoSCIyggqA==';
    const rel = 'hellaswag/hellaswag_val_full.txt.bz2';
    const file = write(rel, '');
    fs.writeFileSync(file, Buffer.from(badLabel, 'base64'));
    expect(() => loadTask('hellaswag', root)).toThrow(`${file}:2: gold label "7"`);
    fs.writeFileSync(file, Buffer.from(fiveLines, 'base64'));
    expect(() => loadTask('hellaswag', root)).toThrow(/5 lines is not a multiple of 6/);
    write(rel, 'ctx\n1\na\nb\nc\nd\n'); // plain text under the .bz2 name
    expect(() => loadTask('hellaswag', root)).toThrow(`${file} cannot be decompressed`);
  });
});

describe.skipIf(!haveBench)('benchmark loaders on ../shared/data/benchmarks', () => {
  const tasks = new Map<string, TaskData>();
  // all eleven tasks' files (35 MB, some compressed): more than the default 10 s hook limit under load
  beforeAll(() => {
    for (const name of TASK_NAMES) tasks.set(name, loadTask(name, BENCH));
  }, 120_000);
  const task = (name: string): TaskData => tasks.get(name)!;

  it('registers the eleven SPEC §8 tasks', () => {
    expect([...TASK_NAMES].sort()).toEqual(Object.keys(SIZES).sort());
  });

  it.each(Object.keys(SIZES))('%s has the published number of items and the expected shot pool', (name) => {
    const t = task(name);
    expect(t.name).toBe(name);
    expect(t.items.length).toBe(SIZES[name]);
    expect(t.shots.length).toBe(SHOT_SIZES[name]);
    if (SUBJECTS[name]) expect(new Set(t.items.map((i) => i.subject)).size).toBe(SUBJECTS[name]);
  });

  it('gives every choice item 4 options (ARC 3-5), an answer in range and a question', () => {
    const bad: string[] = [];
    for (const name of ['mmlu', 'cmmlu', 'ceval', 'arc-e', 'arc-c', 'hellaswag']) {
      const [lo, hi] = name.startsWith('arc') ? [3, 5] : [4, 4];
      for (const it of [...task(name).items, ...task(name).shots] as ChoiceItem[]) {
        const n = it.options.length;
        const ok = it.kind === 'choice' && n >= lo && n <= hi && Number.isInteger(it.answer);
        if (!ok || it.answer < 0 || it.answer >= n || it.question === '') bad.push(it.id);
      }
    }
    expect(bad).toEqual([]);
  });

  it('gives every answer and code item a reference', () => {
    for (const name of ['gsm8k', 'math', 'bbh']) {
      for (const it of task(name).items as AnswerItem[]) expect(it.answer.length).toBeGreaterThan(0);
    }
    for (const it of task('gsm8k').items as AnswerItem[]) expect(it.answer).toMatch(/^-?\d+$/);
    for (const name of ['humaneval', 'mbpp']) {
      for (const it of [...task(name).items, ...task(name).shots] as CodeItem[]) {
        expect(it.tests).toMatch(/assert|def check/);
        expect(it.solution).toBeTruthy();
      }
    }
  });

  it('mmlu, cmmlu, ceval: known first rows', () => {
    const m = choice(task('mmlu'), 'mmlu/abstract_algebra/0');
    expect(m.question).toBe(
      'Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.',
    );
    expect(m.options).toEqual(['0', '4', '2', '6']);
    expect(m.answer).toBe(1);
    const c = choice(task('cmmlu'), 'cmmlu/agronomy/0');
    expect([c.options[c.answer], c.subject]).toEqual(['土地', 'agronomy']);
    const e = choice(task('ceval'), 'ceval/accountant/0');
    expect(e.answer).toBe(3);
    expect(e.question).toBe('下列关于税法基本原则的表述中，不正确的是____。');
    // A quoted question with a CRLF inside it stays one field.
    expect(task('mmlu').shots.filter((s) => s.kind === 'choice' && s.question.includes('\r\n')).length).toBe(
      1,
    );
  });

  it('arc: answers found by label, numeric labels and 3/5 options included', () => {
    const e = choice(task('arc-e'), 'arc-e/Mercury_417466');
    expect(e.options[e.answer]).toBe('Sunlight is the source of energy for nearly all ecosystems.');
    expect(e.subject).toBe('ARC-Easy');
    const counts = (t: TaskData) => (t.items as ChoiceItem[]).map((i) => i.options.length);
    expect(counts(task('arc-e')).filter((n) => n === 5).length).toBe(4);
    expect(counts(task('arc-e')).filter((n) => n === 3).length).toBe(7);
    expect(task('arc-c').items.every((i) => i.subject === 'ARC-Challenge')).toBe(true);
  });

  it('hellaswag: context, endings and gold of the first task', () => {
    const h = choice(task('hellaswag'), 'hellaswag/0');
    expect(h.question).toBe('Roof shingle removal: A man is sitting on a roof. he');
    expect(h.continuation).toBe(true);
    expect(h.options[h.answer]).toBe('starts pulling up roofing on a roof.');
  });

  it('gsm8k: answer after ####, solution without annotations, commas dropped', () => {
    const g = answer(task('gsm8k'), 'gsm8k/0');
    expect(g.question.startsWith('Janet’s ducks lay 16 eggs per day.')).toBe(true);
    expect(g.answer).toBe('18');
    expect(g.solution).toBe(
      'Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer’s market.\n#### 18',
    );
    const withComma = task('gsm8k').items.filter((i) => (i as AnswerItem).solution!.match(/#### \d+,\d/));
    expect(withComma.length).toBe(14);
    expect(task('gsm8k').shots[0].id).toBe('gsm8k/train/0');
  });

  it('math: MATH-500 answers equal the last \\boxed of their solution; shots exclude MATH-500', () => {
    const m = answer(task('math'), 'math/test/precalculus/807.json');
    expect(m.answer).toBe('\\left( 3, \\frac{\\pi}{2} \\right)');
    expect(m.subject).toBe('Precalculus');
    for (const it of task('math').items as AnswerItem[]) expect(lastBoxed(it.solution!)).toBe(it.answer);
    const scored = new Set(task('math').items.map((i) => (i as AnswerItem).question));
    expect(task('math').shots.some((s) => scored.has((s as AnswerItem).question))).toBe(false);
  });

  it('bbh: targets per sub-task and the 3-shot prompts', () => {
    const b = answer(task('bbh'), 'bbh/boolean_expressions/0');
    expect([b.question, b.answer]).toEqual(['not ( True ) and ( True ) is', 'False']);
    expect(new Set(task('bbh').items.map((i) => i.subject))).toEqual(new Set(BBH_SUBTASKS));
    for (const s of BBH_SUBTASKS) {
      const p = bbhShotPrompt(s, BENCH);
      expect(p).not.toContain('canary');
      expect(p.split('\nQ: ').length - 1 + (p.startsWith('Q: ') ? 1 : 0)).toBe(3);
      expect(p).toMatch(/So the answer is .+\.$/);
    }
    expect(() => bbhShotPrompt('no_such_task', BENCH)).toThrow(/unknown BBH sub-task/);
  });

  it('humaneval: prompt, check() tests and entry point', () => {
    const h = code(task('humaneval'), 'HumanEval/0');
    expect(h.entryPoint).toBe('has_close_elements');
    expect(h.prompt.startsWith('from typing import List\n\n\ndef has_close_elements(')).toBe(true);
    expect(h.tests).toContain('def check(candidate):');
  });

  it('mbpp: sanitized text, joined tests, restored imports and the 2/3/4 shots', () => {
    const m = code(task('mbpp'), 'mbpp/2');
    expect(m.prompt).toBe('Write a function to find the shared elements from the given two lists.');
    expect(m.tests.split('\n').filter((l) => l.startsWith('assert ')).length).toBe(3);
    expect(code(task('mbpp'), 'mbpp/82').tests.startsWith('import math\nassert math.isclose(')).toBe(true);
    expect(task('mbpp').items.filter((i) => (i as CodeItem).tests.startsWith('import ')).length).toBe(14);
    expect(task('mbpp').shots.map((s) => s.id)).toEqual(['mbpp/prompt/2', 'mbpp/prompt/3', 'mbpp/prompt/4']);
    expect((task('mbpp').shots[1] as CodeItem).solution).not.toContain('\r');
  });

  it('ids are unique and stable (same ids on a second load)', () => {
    const again = loadTask('cmmlu', BENCH);
    expect(again.items.map((i) => i.id)).toEqual(task('cmmlu').items.map((i) => i.id));
  });
});
