/**
 * CMMLU (67 subjects): scored on test (11582), 5 shots per subject from dev. Files are `<subject>.csv` with
 * a header `,Question,A,B,C,D,Answer` (the unnamed first column is the row number) and a letter answer.
 */
import type { ChoiceItem, TaskData } from '../types.js';
import { letterAnswer, loadExam, type ExamLayout } from './exam-csv.js';

const CMMLU: ExamLayout = {
  task: 'cmmlu',
  fileSuffix: () => '.csv',
  question: 'Question',
  options: ['A', 'B', 'C', 'D'],
  answer: 'Answer',
  answerIndex: letterAnswer,
};

export function loadCmmlu(root: string): TaskData<ChoiceItem> {
  return loadExam(root, CMMLU, 'test', 'dev');
}
