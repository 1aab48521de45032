/**
 * MATH, scored on MATH-500 (math500_test.jsonl): the 500 test problems OpenAI's PRM800K kept out of its
 * training, a uniform sample over subjects and levels that most recent reports use, and a tenth of the
 * generation cost of the full 5000 on a CPU. (MiniCPM's 10.24 in SPEC §8 was likely on all 5000, so the
 * two numbers compare only roughly.) The other 4500 problems of test.jsonl are the shot pool (SPEC: 4-shot),
 * so a shot is never a scored question.
 *
 * answer: MATH-500 states it in a field, equal to the last \boxed{…} of the solution; pool rows have no such
 * field, so it is read from the solution. subject: MATH-500 `subject`, test.jsonl `type` (same 7 names).
 */
import type { AnswerItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getInt, getString } from './fields.js';
import { requireFile } from './files.js';
import { readJsonl } from './readers.js';

/** The argument of the last `\boxed{…}` (or `\fbox{…}`, or brace-less `\boxed 5`) in `text`. */
export function lastBoxed(text: string): string | undefined {
  const at = Math.max(text.lastIndexOf('\\boxed'), text.lastIndexOf('\\fbox'));
  if (at < 0) return undefined;
  const rest = text.slice(at + (text.startsWith('\\boxed', at) ? 6 : 5));
  if (rest.startsWith(' ')) return /^ ([^\s$]+)/.exec(rest)?.[1];
  if (!rest.startsWith('{')) return undefined;
  let depth = 0;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '{') depth++;
    else if (rest[i] === '}' && --depth === 0) return rest.slice(1, i);
  }
  return undefined; // unbalanced braces
}

export function loadMath(root: string): TaskData<AnswerItem> {
  const scoredFile = requireFile(root, 'math', 'math500_test.jsonl');
  const items = readJsonl(scoredFile).map(({ value, where }): AnswerItem => {
    const row = asObject(value, where);
    return {
      kind: 'answer',
      id: `math/${getString(row, 'unique_id', where)}`,
      subject: getString(row, 'subject', where),
      question: getString(row, 'problem', where),
      answer: getString(row, 'answer', where),
      solution: getString(row, 'solution', where),
    };
  });
  const scored = new Set(items.map((it) => it.question));

  const poolFile = requireFile(root, 'math', 'test.jsonl');
  const shots: AnswerItem[] = [];
  for (const { value, where } of readJsonl(poolFile)) {
    const row = asObject(value, where);
    const question = getString(row, 'problem', where);
    if (scored.has(question)) continue; // a MATH-500 problem: scored, so never a shot
    const solution = getString(row, 'solution', where);
    const answer = lastBoxed(solution);
    if (answer === undefined) throw new EvalError(`${where}: solution has no complete \\boxed{…} answer`);
    const id = `math/pool/${getInt(row, 'idx', where)}`;
    shots.push({ kind: 'answer', id, subject: getString(row, 'type', where), question, answer, solution });
  }
  return { name: 'math', items, shots };
}
