/**
 * The exam-style multiple-choice sets (MMLU, CMMLU, C-Eval) share one shape: a folder per split, one CSV
 * per subject, a question, four options and an answer column. A layout names the columns of one family;
 * this file turns its folders into ChoiceItems with ids `<task>/<subject>/<row>` (row 0 = first data row);
 * shot ids add the split, `<task>/<split>/<subject>/<row>`, so no shot shares an id with a scored item.
 */
import path from 'node:path';
import { EvalError } from '../errors.js';
import type { ChoiceItem, TaskData } from '../types.js';
import { listFiles, requireDir } from './files.js';
import { readCsv } from './readers.js';

export interface ExamLayout {
  /** Task name, also the folder under the benchmarks root. */
  task: string;
  /** How a subject's file name ends in a split (`_test.csv`); the part before it is the subject. */
  fileSuffix(split: string): string;
  question: string;
  /** Option columns in answer-index order. */
  options: readonly string[];
  answer: string;
  /** The answer cell as an option index, or undefined when the cell is not a valid answer. */
  answerIndex(cell: string): number | undefined;
}

/** Answers written as a letter A, B, C, … (CMMLU, C-Eval). */
export function letterAnswer(cell: string): number | undefined {
  const i = 'ABCDEFGHIJ'.indexOf(cell);
  return cell.length === 1 && i >= 0 ? i : undefined;
}

/** The scored split and the shot split of an exam family; every scored subject must have shots. */
export function loadExam(
  root: string,
  layout: ExamLayout,
  scored: string,
  shots: string,
): TaskData<ChoiceItem> {
  const items = loadExamSplit(root, layout, scored, layout.task);
  const pool = loadExamSplit(root, layout, shots, `${layout.task}/${shots}`);
  const shotSubjects = new Set(pool.map((it) => it.subject));
  const missing = [...new Set(items.map((it) => it.subject))].filter((s) => !shotSubjects.has(s));
  if (missing.length > 0) {
    const dir = path.join(root, layout.task, shots);
    throw new EvalError(
      `${dir} has no few-shot file for subject(s) ${missing.join(', ')}: the copy is incomplete`,
    );
  }
  return { name: layout.task, items, shots: pool };
}

/** Every subject file of one split, in file-name order. */
export function loadExamSplit(
  root: string,
  layout: ExamLayout,
  split: string,
  idPrefix: string,
): ChoiceItem[] {
  const dir = requireDir(root, layout.task, split);
  const suffix = layout.fileSuffix(split);
  const items: ChoiceItem[] = [];
  for (const name of listFiles(dir, suffix)) {
    items.push(...loadSubjectFile(path.join(dir, name), name.slice(0, -suffix.length), layout, idPrefix));
  }
  return items;
}

function loadSubjectFile(file: string, subject: string, layout: ExamLayout, idPrefix: string): ChoiceItem[] {
  const { header, rows } = readCsv(file);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) {
      throw new EvalError(
        `${file}:1: header ${JSON.stringify(header)} lacks column "${name}" (${layout.task} layout)`,
      );
    }
    return i;
  };
  const q = col(layout.question);
  const opts = layout.options.map(col);
  const ans = col(layout.answer);
  if (rows.length === 0) throw new EvalError(`${file}: header but no questions`);
  return rows.map(({ value: cells, where }, row) => {
    const answer = layout.answerIndex(cells[ans]);
    if (answer === undefined || answer >= opts.length) {
      throw new EvalError(
        `${where}: answer ${JSON.stringify(cells[ans])} is not one of the ${opts.length} options`,
      );
    }
    return {
      kind: 'choice',
      id: `${idPrefix}/${subject}/${row}`,
      subject,
      question: cells[q],
      options: opts.map((i) => cells[i]),
      answer,
    };
  });
}
