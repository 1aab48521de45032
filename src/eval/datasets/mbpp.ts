/**
 * MBPP, scored on the sanitized set (sanitized-mbpp_427.jsonl: SPEC "MBPP 3 (sanitized 427)"); the 3 shots
 * are the standard few-shot problems 2, 3 and 4 of the full mbpp.jsonl. prompt = the task text; the
 * function name is only visible in the tests, which a prompt builder shows as MBPP prompts do.
 *
 * This copy of the sanitized set has `task_id, text, code, test_list, test_setup_code` (setup always empty)
 * and lost the original `test_imports`: 14 problems assert with `math.isclose` (13) or `sys.getsizeof` (1)
 * without importing the module, and would fail whenever a completion did not import it itself. The missing
 * import is put back at the top of the tests.
 *
 * The sanitized set spans every MBPP split (7 problems from the few-shot split 1–10, 257 test, 43
 * validation, 120 train), so problems 2, 3 and 4 are both shots and scored items: a prompt builder should
 * not show a problem its own solution (use another shot there, or accept 3 free passes).
 */
import type { CodeItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getInt, getString, getStringArray } from './fields.js';
import { requireFile } from './files.js';
import { readJsonl } from './readers.js';

/** Shot ids are `mbpp/prompt/<task_id>` (MBPP's few-shot split), scored ids `mbpp/<task_id>`. */
export const MBPP_SHOT_IDS = [2, 3, 4] as const;

/** Standard-library modules a test may use by name; unneeded imports of them are harmless. */
const TEST_MODULES = ['math', 'sys', 're', 'cmath', 'collections', 'heapq', 'itertools'];

export function loadMbpp(root: string): TaskData<CodeItem> {
  const scoredFile = requireFile(root, 'mbpp', 'sanitized-mbpp_427.jsonl');
  const items = readJsonl(scoredFile).map(({ value, where }) => mbppItem(value, where, 'mbpp'));

  const fullFile = requireFile(root, 'mbpp', 'mbpp.jsonl');
  const byId = new Map<number, CodeItem>();
  for (const { value, where } of readJsonl(fullFile)) {
    const id = getInt(asObject(value, where), 'task_id', where);
    if ((MBPP_SHOT_IDS as readonly number[]).includes(id))
      byId.set(id, mbppItem(value, where, 'mbpp/prompt'));
  }
  const shots = MBPP_SHOT_IDS.map((id) => {
    const shot = byId.get(id);
    if (!shot) throw new EvalError(`${fullFile}: few-shot problem task_id ${id} is missing`);
    return shot;
  });
  return { name: 'mbpp', items, shots };
}

function mbppItem(value: unknown, where: string, idPrefix: string): CodeItem {
  const row = asObject(value, where);
  const asserts = getStringArray(row, 'test_list', where);
  if (asserts.length === 0) throw new EvalError(`${where}: empty test_list`);
  const setup = lf(getString(row, 'test_setup_code', where)).trim();
  const body = [setup, ...asserts.map(lf)].filter((s) => s !== '').join('\n');
  const imports = TEST_MODULES.filter((m) => usesUnimported(body, m)).map((m) => `import ${m}`);
  return {
    kind: 'code',
    id: `${idPrefix}/${getInt(row, 'task_id', where)}`,
    subject: 'mbpp',
    prompt: getString(row, 'text', where),
    tests: [...imports, body].join('\n') + '\n',
    solution: lf(getString(row, 'code', where)),
  };
}

function usesUnimported(code: string, module: string): boolean {
  return (
    new RegExp(`\\b${module}\\.`).test(code) &&
    !new RegExp(`^\\s*(import|from)\\s+${module}\\b`, 'm').test(code)
  );
}

/** The full mbpp.jsonl stores code with Windows line ends; prompts and test files want `\n`. */
function lf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}
