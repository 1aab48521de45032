/**
 * HellaSwag validation (10042 tasks) from klosax's text export (the llama.cpp `perplexity --hellaswag`
 * format; the original hellaswag_val.jsonl is not in the snapshot): six lines per task, already
 * preprocessed as lm-evaluation-harness does —
 *   `<activity_label>: <ctx>`, the gold index 0–3, then endings 0..3.
 * Endings carry no leading space; whoever joins context and ending adds the separator. Scored 0-shot
 * (SPEC §8), so there is no shot pool. The activity label is not used as the subject: HellaSwag reports
 * one accuracy, and averaging over its 192 activity labels would change the score.
 */
import type { ChoiceItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { requireFile } from './files.js';
import { readLines } from './readers.js';

const LINES_PER_TASK = 6;

export function loadHellaswag(root: string): TaskData<ChoiceItem> {
  const file = requireFile(root, 'hellaswag', 'hellaswag_val_full.txt.bz2');
  const lines = readLines(file);
  const items: ChoiceItem[] = [];
  // Labels are checked first: a missing or split line shows up as a non-label where the label should be.
  for (let start = 0; start + LINES_PER_TASK <= lines.length; start += LINES_PER_TASK) {
    const [context, label, ...endings] = lines.slice(start, start + LINES_PER_TASK);
    if (!/^[0-3]$/.test(label)) {
      throw new EvalError(
        `${file}:${start + 2}: gold label ${JSON.stringify(label)} should be 0–3; the task layout is off`,
      );
    }
    const empty = [context, ...endings].findIndex((l) => l.trim() === '');
    if (empty >= 0)
      throw new EvalError(`${file}:${start + 1 + (empty === 0 ? 0 : empty + 1)}: empty line in a task`);
    items.push({
      kind: 'choice',
      id: `hellaswag/${start / LINES_PER_TASK}`,
      subject: 'hellaswag',
      question: context,
      options: endings,
      answer: Number(label),
      continuation: true,
    });
  }
  if (lines.length % LINES_PER_TASK !== 0) {
    throw new EvalError(
      `${file}: ${lines.length} lines is not a multiple of ${LINES_PER_TASK} (context, label, 4 endings): ` +
        'the last task is cut short',
    );
  }
  return { name: 'hellaswag', items, shots: [] };
}
