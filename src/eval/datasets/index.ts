/**
 * The task registry: a task name → its loader over the benchmarks folder (SPEC §8's eleven scores).
 * `loadTask` also checks that ids are unique, since results are stored and resumed by id.
 */
import { EvalError } from '../errors.js';
import type { TaskData } from '../types.js';
import { loadArc } from './arc.js';
import { loadBbh } from './bbh.js';
import { loadCeval } from './ceval.js';
import { loadCmmlu } from './cmmlu.js';
import { defaultBenchmarksDir } from './files.js';
import { loadGsm8k } from './gsm8k.js';
import { loadHellaswag } from './hellaswag.js';
import { loadHumaneval } from './humaneval.js';
import { loadMath } from './math.js';
import { loadMbpp } from './mbpp.js';
import { loadMmlu } from './mmlu.js';

const LOADERS = {
  mmlu: loadMmlu,
  cmmlu: loadCmmlu,
  ceval: loadCeval,
  'arc-e': (root: string) => loadArc(root, 'ARC-Easy', 'arc-e'),
  'arc-c': (root: string) => loadArc(root, 'ARC-Challenge', 'arc-c'),
  hellaswag: loadHellaswag,
  gsm8k: loadGsm8k,
  math: loadMath,
  bbh: loadBbh,
  humaneval: loadHumaneval,
  mbpp: loadMbpp,
} satisfies Record<string, (root: string) => TaskData>;

export type TaskName = keyof typeof LOADERS;

/** The task names in SPEC §8's order; typed as plain strings so callers can test user input against it. */
export const TASK_NAMES: readonly string[] = Object.keys(LOADERS);

export function isTaskName(name: string): name is TaskName {
  return Object.hasOwn(LOADERS, name);
}

/** Loads a task's scored items and shot pool from `dir` (default: `defaultBenchmarksDir()`). */
export function loadTask(name: string, dir: string = defaultBenchmarksDir()): TaskData {
  if (!isTaskName(name))
    throw new EvalError(`unknown task '${name}'; the tasks are ${TASK_NAMES.join(', ')}`);
  const data: TaskData = LOADERS[name](dir);
  const seen = new Set<string>();
  for (const item of [...data.items, ...data.shots]) {
    if (seen.has(item.id))
      throw new EvalError(`task ${name}: id ${item.id} occurs twice; the loader or the data is wrong`);
    seen.add(item.id);
  }
  return data;
}

export { BENCHMARKS_ENV, defaultBenchmarksDir } from './files.js';
export {
  DATASET_SOURCES,
  DatasetDownloadError,
  downloadTask,
  manualInstructions,
  type DownloadOptions,
} from './download.js';
export { BBH_SUBTASKS, bbhShotPrompt } from './bbh.js';
export { gsm8kAnswer, stripCalculatorAnnotations } from './gsm8k.js';
export { lastBoxed } from './math.js';
export { MBPP_SHOT_IDS } from './mbpp.js';
export {
  loadArc,
  loadBbh,
  loadCeval,
  loadCmmlu,
  loadGsm8k,
  loadHellaswag,
  loadHumaneval,
  loadMath,
  loadMbpp,
  loadMmlu,
};
