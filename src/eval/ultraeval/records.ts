/**
 * The benchmark files as UltraEval's `make_dataset.py` scripts turn them into its per-subject JSONL files
 * (SPEC §8), read from our copies. What matters for fidelity:
 *  - options become a dict keyed by option text (`target_scores`): a repeated text keeps its first
 *    position and its last score. MMLU, CMMLU and C-Eval then drop items without exactly four distinct
 *    options; an item whose correct option was overwritten has no answer and is dropped too (UltraEval
 *    would stop with an error on it);
 *  - one subject is one UltraEval task: shots are drawn from it and scores averaged over subjects.
 * `index` is the item's 0-based position in its subject's file (ours), kept through the drops.
 */
import path from 'node:path';
import { EvalError } from '../errors.js';
import { BBH_SUBTASKS } from '../datasets/bbh.js';
import { asObject, getArray, getInt, getString, getStringArray } from '../datasets/fields.js';
import { listFiles, requireDir, requireFile } from '../datasets/files.js';
import { lastBoxedOnly, removeBoxed } from './math-answer.js';
import { readCsv, readJson, readJsonl, readLines, readText } from '../datasets/readers.js';

export interface UeRecord {
  subject: string;
  index: number;
  question: string;
  /** target_scores keys and values, in dict order. */
  options: string[];
  scores: number[];
  /** GSM8K: the full answer text; MATH: the solution. */
  answer: string;
  /**
   * HellaSwag: `question` is the export's `<activity_label>: <ctx>` line (what the templates show), this the
   * ctx alone (UltraEval's `question` field, which qa_match strips from an echoing output).
   */
  context?: string;
  /** BBH: the chain-of-thought prompt and the accepted answers (target, and target without its parentheses). */
  cot?: string;
  answers?: string[];
  /** HumanEval. */
  prompt?: string;
  test?: string;
  entryPoint?: string;
  /** MBPP. */
  testList?: string[];
  code?: string;
}

export interface UeSubject {
  subject: string;
  records: UeRecord[];
  /** Items of the file UltraEval leaves out, with why. */
  dropped: { index: number; reason: string }[];
}

/** Python dict semantics for `{text: score for …}`. */
function targetScores(texts: readonly string[], correct: number): { options: string[]; scores: number[] } {
  const options: string[] = [];
  const scores: number[] = [];
  texts.forEach((t, i) => {
    const at = options.indexOf(t);
    const v = i === correct ? 1 : 0;
    if (at >= 0) scores[at] = v;
    else {
      options.push(t);
      scores.push(v);
    }
  });
  return { options, scores };
}

function choiceRecord(
  subject: string,
  index: number,
  question: string,
  texts: readonly string[],
  correct: number,
  needFour: boolean,
  dropped: UeSubject['dropped'],
): UeRecord | undefined {
  const { options, scores } = targetScores(texts, correct);
  if (needFour && options.length !== 4) {
    dropped.push({ index, reason: `${options.length} distinct options (make_dataset keeps 4)` });
    return undefined;
  }
  if (!scores.includes(1)) {
    dropped.push({ index, reason: 'the correct option text repeats a wrong one' });
    return undefined;
  }
  return { subject, index, question, options, scores, answer: '' };
}

const LETTER = (cell: string) => 'ABCD'.indexOf(cell);

function examSubjects(
  root: string,
  task: 'mmlu' | 'cmmlu' | 'ceval',
  split: string,
  suffix: string,
): UeSubject[] {
  const dir = requireDir(root, task, split);
  return listFiles(dir, suffix).map((name) => {
    const subject = name.slice(0, -suffix.length);
    const { header, rows } = readCsv(path.join(dir, name));
    const dropped: UeSubject['dropped'] = [];
    // MMLU (our copy): question,choice0..3,answer(0-3); CMMLU/C-Eval: id/row,question,A..D,answer(letter)
    const first = task === 'mmlu' ? 0 : 1;
    if (header.length !== first + 6)
      throw new EvalError(`${dir}/${name}: unexpected header ${header.join(',')}`);
    const records = rows.flatMap(({ value: c, where }, index) => {
      const correct = task === 'mmlu' ? Number(c[first + 5]) : LETTER(c[first + 5]);
      if (!(correct >= 0 && correct < 4))
        throw new EvalError(`${where}: bad answer ${JSON.stringify(c[first + 5])}`);
      const r = choiceRecord(subject, index, c[first], c.slice(first + 1, first + 5), correct, true, dropped);
      return r ? [r] : [];
    });
    return { subject, records, dropped };
  });
}

function arcSubject(root: string, set: 'ARC-Easy' | 'ARC-Challenge'): UeSubject[] {
  const dropped: UeSubject['dropped'] = [];
  const records = readJsonl(requireFile(root, 'arc', set, `${set}-Test.jsonl`)).flatMap(
    ({ value, where }, index) => {
      const row = asObject(value, where);
      const q = asObject(row.question, where);
      const choices = getArray(q, 'choices', where).map((c) => asObject(c, where));
      const key = getString(row, 'answerKey', where);
      const correct = choices.findIndex((c) => getString(c, 'label', where) === key);
      const texts = choices.map((c) => getString(c, 'text', where));
      const r = choiceRecord(set, index, getString(q, 'stem', where), texts, correct, false, dropped);
      return r ? [r] : [];
    },
  );
  return [{ subject: set, records, dropped }];
}

/** klosax's export: `<activity_label>: <ctx>` (lm-eval-harness preprocessed), the label, four endings. */
function hellaswagSubject(root: string): UeSubject[] {
  const lines = readLines(requireFile(root, 'hellaswag', 'hellaswag_val_full.txt.bz2'));
  if (lines.length % 6 !== 0)
    throw new EvalError('hellaswag_val_full.txt.bz2: line count is not a multiple of 6');
  const dropped: UeSubject['dropped'] = [];
  const records: UeRecord[] = [];
  for (let i = 0; i < lines.length; i += 6) {
    const r = choiceRecord(
      'hellaswag',
      i / 6,
      lines[i],
      lines.slice(i + 2, i + 6),
      Number(lines[i + 1]),
      false,
      dropped,
    );
    const colon = lines[i].indexOf(': ');
    if (r) records.push({ ...r, context: colon >= 0 ? lines[i].slice(colon + 2) : lines[i] });
  }
  return [{ subject: 'hellaswag', records, dropped }];
}

function gsm8kSubject(root: string): UeSubject[] {
  const records = readJsonl(requireFile(root, 'gsm8k', 'test.jsonl')).map(({ value, where }, index) => {
    const row = asObject(value, where);
    return {
      subject: 'gsm8k',
      index,
      question: getString(row, 'question', where),
      options: [],
      scores: [],
      answer: getString(row, 'answer', where),
    };
  });
  return [{ subject: 'gsm8k', records, dropped: [] }];
}

/** UltraEval's MATH subject files: the 7 `type`s, lower case with spaces and `&` as in its file names. */
export function mathSubject(type: string): string {
  return type.toLowerCase().replace(' & ', '-and-').replace(/ /g, '-');
}

export type MathSet = 'full' | 'math500';

function mathSubjects(root: string, set: MathSet): UeSubject[] {
  const file = requireFile(root, 'math', set === 'full' ? 'test.jsonl' : 'math500_test.jsonl');
  const bySubject = new Map<string, UeSubject>();
  for (const { value, where } of readJsonl(file)) {
    const row = asObject(value, where);
    const subject = mathSubject(getString(row, set === 'full' ? 'type' : 'subject', where));
    let s = bySubject.get(subject);
    if (!s) bySubject.set(subject, (s = { subject, records: [], dropped: [] }));
    const index = s.records.length + s.dropped.length;
    const solution = getString(row, 'solution', where);
    // UltraEval's transform fails on a solution without a final \boxed{…}: such a problem cannot be scored
    if (removeBoxed(lastBoxedOnly(solution)) === null) {
      s.dropped.push({ index, reason: 'the solution has no final \\boxed{…} answer' });
      continue;
    }
    s.records.push({
      subject,
      index,
      question: getString(row, 'problem', where),
      options: [],
      scores: [],
      answer: solution,
    });
  }
  return [...bySubject.keys()].sort().map((k) => bySubject.get(k)!);
}

/** bbh-cot: the prompt file's lines from the third on, each stripped, joined by newlines. */
export function bbhCot(root: string, subtask: string): string {
  const lines = readText(requireFile(root, 'bbh', 'cot-prompts', `${subtask}.txt`)).split(/(?<=\n)/);
  return lines
    .slice(2)
    .map((l) => l.trim())
    .join('\n');
}

function bbhSubjects(root: string): UeSubject[] {
  return BBH_SUBTASKS.map((subtask) => {
    const file = requireFile(root, 'bbh', 'bbh', `${subtask}.json`);
    const cot = bbhCot(root, subtask);
    const examples = getArray(asObject(readJson(file), file), 'examples', file);
    const records = examples.map((v, index): UeRecord => {
      const ex = asObject(v, `${file} (examples[${index}])`);
      const target = getString(ex, 'target', file).trim();
      const answers = [target];
      if (target.startsWith('(') && target.endsWith(')')) answers.push(target.slice(1, -1));
      return {
        subject: subtask,
        index,
        question: getString(ex, 'input', file),
        options: [],
        scores: [],
        answer: '',
        cot,
        answers,
      };
    });
    return { subject: subtask, records, dropped: [] };
  });
}

function humanevalSubject(root: string): UeSubject[] {
  const records = readJsonl(requireFile(root, 'humaneval', 'HumanEval.jsonl.gz')).map(
    ({ value, where }, index) => {
      const row = asObject(value, where);
      return {
        subject: 'humaneval',
        index,
        question: '',
        options: [],
        scores: [],
        answer: '',
        prompt: getString(row, 'prompt', where),
        test: getString(row, 'test', where),
        entryPoint: getString(row, 'entry_point', where),
      };
    },
  );
  return [{ subject: 'humaneval', records, dropped: [] }];
}

function mbppSubject(root: string): UeSubject[] {
  const records = readJsonl(requireFile(root, 'mbpp', 'sanitized-mbpp_427.jsonl')).map(
    ({ value, where }, index) => {
      const row = asObject(value, where);
      getInt(row, 'task_id', where);
      return {
        subject: 'mbpp',
        index,
        question: getString(row, 'text', where),
        options: [],
        scores: [],
        answer: '',
        testList: getStringArray(row, 'test_list', where),
        code: getString(row, 'code', where),
      };
    },
  );
  return [{ subject: 'mbpp', records, dropped: [] }];
}

export interface LoadOptions {
  mathSet?: MathSet;
}

/** The subjects of one of the eleven tasks, as UltraEval's data files hold them. */
export function loadUeSubjects(task: string, root: string, o: LoadOptions = {}): UeSubject[] {
  switch (task) {
    case 'mmlu':
      return examSubjects(root, 'mmlu', 'test', '_test.csv');
    case 'cmmlu':
      return examSubjects(root, 'cmmlu', 'test', '.csv');
    case 'ceval':
      return examSubjects(root, 'ceval', 'val', '_val.csv');
    case 'arc-e':
      return arcSubject(root, 'ARC-Easy');
    case 'arc-c':
      return arcSubject(root, 'ARC-Challenge');
    case 'hellaswag':
      return hellaswagSubject(root);
    case 'gsm8k':
      return gsm8kSubject(root);
    case 'math':
      return mathSubjects(root, o.mathSet ?? 'full');
    case 'bbh':
      return bbhSubjects(root);
    case 'humaneval':
      return humanevalSubject(root);
    case 'mbpp':
      return mbppSubject(root);
    default:
      throw new EvalError(`unknown task '${task}'`);
  }
}
