/**
 * BIG-Bench Hard: 27 sub-tasks, 6511 questions (250 each, except causal_judgement 187, penguins_in_a_table
 * 146, snarks 178), scored by comparing the generated answer with `target`. The 3-shot chain-of-thought
 * prompts (SPEC: BBH 3-shot) are free text per sub-task in cot-prompts/, so they are offered as text by
 * `bbhShotPrompt` rather than as shot items; the task's shot pool is empty.
 */
import path from 'node:path';
import type { AnswerItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getArray, getString } from './fields.js';
import { defaultBenchmarksDir, listFiles, requireDir, requireFile } from './files.js';
import { readJson, readText } from './readers.js';

export const BBH_SUBTASKS = [
  'boolean_expressions',
  'causal_judgement',
  'date_understanding',
  'disambiguation_qa',
  'dyck_languages',
  'formal_fallacies',
  'geometric_shapes',
  'hyperbaton',
  'logical_deduction_five_objects',
  'logical_deduction_seven_objects',
  'logical_deduction_three_objects',
  'movie_recommendation',
  'multistep_arithmetic_two',
  'navigate',
  'object_counting',
  'penguins_in_a_table',
  'reasoning_about_colored_objects',
  'ruin_names',
  'salient_translation_error_detection',
  'snarks',
  'sports_understanding',
  'temporal_sequences',
  'tracking_shuffled_objects_five_objects',
  'tracking_shuffled_objects_seven_objects',
  'tracking_shuffled_objects_three_objects',
  'web_of_lies',
  'word_sorting',
] as const;

export function loadBbh(root: string): TaskData<AnswerItem> {
  const dir = requireDir(root, 'bbh', 'bbh');
  // A stray or missing sub-task file would silently change the BBH average, so the set must be exact.
  const found = listFiles(dir, '.json').map((n) => n.slice(0, -'.json'.length));
  const extra = found.filter((n) => !(BBH_SUBTASKS as readonly string[]).includes(n));
  const missing = BBH_SUBTASKS.filter((n) => !found.includes(n));
  if (extra.length > 0 || missing.length > 0) {
    throw new EvalError(
      `${dir}: expected the 27 BBH sub-tasks; missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`,
    );
  }
  const items = BBH_SUBTASKS.flatMap((subtask) => loadSubtask(path.join(dir, `${subtask}.json`), subtask));
  return { name: 'bbh', items, shots: [] };
}

function loadSubtask(file: string, subtask: string): AnswerItem[] {
  const examples = getArray(asObject(readJson(file), file), 'examples', file);
  if (examples.length === 0) throw new EvalError(`${file}: no examples`);
  return examples.map((value, i) => {
    const where = `${file} (examples[${i}])`;
    const ex = asObject(value, where);
    return {
      kind: 'answer',
      id: `bbh/${subtask}/${i}`,
      subject: subtask,
      question: getString(ex, 'input', where),
      answer: getString(ex, 'target', where),
    };
  });
}

/**
 * The 3-shot chain-of-thought prompt of a sub-task: the task description and three `Q: … A: …` examples,
 * without the canary header (everything up to the `-----` line), which is a marker, not prompt text.
 */
export function bbhShotPrompt(subtask: string, root: string = defaultBenchmarksDir()): string {
  if (!(BBH_SUBTASKS as readonly string[]).includes(subtask)) {
    throw new EvalError(`unknown BBH sub-task '${subtask}'; the sub-tasks are ${BBH_SUBTASKS.join(', ')}`);
  }
  const file = requireFile(root, 'bbh', 'cot-prompts', `${subtask}.txt`);
  const text = readText(file);
  const rule = text.indexOf('\n-----\n');
  if (rule < 0)
    throw new EvalError(
      `${file}: no '-----' line after the canary header; the prompt file is not the BBH one`,
    );
  return text.slice(rule + '\n-----\n'.length).trim();
}
