/**
 * GSM8K: scored on test (1319), shots from train (7473; SPEC runs 8-shot). Each answer is a worked solution
 * with `<<48/2=24>>` calculator annotations and a last line `#### 72`. The reference answer is that number
 * without thousands separators (14 test answers have them, e.g. `#### 1,600`); the solution kept for
 * prompts drops the annotations, which a model never sees in natural text, and keeps the `####` line,
 * since the prompt format asks the model to end with it.
 */
import type { AnswerItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getString } from './fields.js';
import { requireFile } from './files.js';
import { readJsonl } from './readers.js';

/** The number after the last `####`, commas removed; undefined when there is no `####` or nothing after it. */
export function gsm8kAnswer(text: string): string | undefined {
  const at = text.lastIndexOf('####');
  if (at < 0) return undefined;
  const answer = text
    .slice(at + 4)
    .trim()
    .replace(/,/g, '');
  return answer === '' ? undefined : answer;
}

/** The text without its `<<expression=result>>` calculator annotations (they never span lines). */
export function stripCalculatorAnnotations(text: string): string {
  return text.replace(/<<[^<>\n]*>>/g, '');
}

export function loadGsm8k(root: string): TaskData<AnswerItem> {
  // Ids: `gsm8k/<row>` for test (row 0 = first line), `gsm8k/train/<row>` for shots.
  const split = (name: string, idPrefix: string): AnswerItem[] => {
    const file = requireFile(root, 'gsm8k', `${name}.jsonl`);
    return readJsonl(file).map(({ value, where }, i) => gsm8kItem(value, where, `${idPrefix}/${i}`));
  };
  return { name: 'gsm8k', items: split('test', 'gsm8k'), shots: split('train', 'gsm8k/train') };
}

function gsm8kItem(value: unknown, where: string, id: string): AnswerItem {
  const row = asObject(value, where);
  const full = getString(row, 'answer', where);
  const answer = gsm8kAnswer(full);
  // The files hold integers only (5 negative); a decimal is allowed, anything else means a damaged row.
  if (answer === undefined || !/^-?\d+(\.\d+)?$/.test(answer)) {
    throw new EvalError(
      `${where}: answer should end with '#### <number>', got ${JSON.stringify(full.slice(-40))}`,
    );
  }
  const solution = stripCalculatorAnnotations(full);
  if (solution.includes('<<') || solution.includes('>>')) {
    throw new EvalError(`${where}: unbalanced <<…>> calculator annotation in the answer`);
  }
  return {
    kind: 'answer',
    id,
    subject: 'gsm8k',
    question: getString(row, 'question', where),
    answer,
    solution,
  };
}
