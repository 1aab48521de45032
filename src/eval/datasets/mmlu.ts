/**
 * MMLU (57 subjects): scored on test (14042), 5 shots per subject from dev (285). This copy is re-formatted
 * (see mmlu/NOTE.txt): a header `question,choice0..choice3,answer` and the answer as an index 0–3, where the
 * original hendrycks CSVs are headerless with a letter.
 */
import type { ChoiceItem, TaskData } from '../types.js';
import { loadExam, type ExamLayout } from './exam-csv.js';

const MMLU: ExamLayout = {
  task: 'mmlu',
  fileSuffix: (split) => `_${split}.csv`,
  question: 'question',
  options: ['choice0', 'choice1', 'choice2', 'choice3'],
  answer: 'answer',
  answerIndex: (cell) => (/^[0-3]$/.test(cell) ? Number(cell) : undefined),
};

export function loadMmlu(root: string): TaskData<ChoiceItem> {
  return loadExam(root, MMLU, 'test', 'dev');
}
