/**
 * C-Eval (52 subjects): scored on val (1346), as SPEC §8 says, because the authors withhold the test answers
 * (test CSVs have no answer column). Shots come from dev (5 per subject). Files are `<subject>_<split>.csv`
 * with a header `id,question,A,B,C,D,answer`; dev adds an `explanation` column, which ChoiceItem has no
 * field for and answer-only prompts do not use.
 */
import type { ChoiceItem, TaskData } from '../types.js';
import { letterAnswer, loadExam, type ExamLayout } from './exam-csv.js';

const CEVAL: ExamLayout = {
  task: 'ceval',
  fileSuffix: (split) => `_${split}.csv`,
  question: 'question',
  options: ['A', 'B', 'C', 'D'],
  answer: 'answer',
  answerIndex: letterAnswer,
};

export function loadCeval(root: string): TaskData<ChoiceItem> {
  return loadExam(root, CEVAL, 'val', 'dev');
}
