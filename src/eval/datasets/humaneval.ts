/**
 * HumanEval (164 problems, gzipped jsonl), run 0-shot (SPEC §8). `tests` is the file's `test` verbatim: it
 * only defines `check(candidate)`, and the program builder appends `check(<entryPoint>)` after it, as
 * human-eval's own harness does.
 */
import type { CodeItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getString } from './fields.js';
import { requireFile } from './files.js';
import { readJsonl } from './readers.js';

export function loadHumaneval(root: string): TaskData<CodeItem> {
  const file = requireFile(root, 'humaneval', 'HumanEval.jsonl.gz');
  const items = readJsonl(file).map(({ value, where }): CodeItem => {
    const row = asObject(value, where);
    const entryPoint = getString(row, 'entry_point', where);
    const test = getString(row, 'test', where);
    if (!/^def check\(/m.test(test))
      throw new EvalError(`${where}: test code defines no check(candidate) function`);
    return {
      kind: 'code',
      id: getString(row, 'task_id', where), // `HumanEval/0`, the key human-eval result files use
      subject: 'humaneval',
      prompt: getString(row, 'prompt', where),
      tests: test,
      entryPoint,
      solution: getString(row, 'canonical_solution', where),
    };
  });
  return { name: 'humaneval', items, shots: [] };
}
