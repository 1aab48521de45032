/**
 * ARC-Easy and ARC-Challenge (AI2 jsonl): scored on test (2376 / 1172), train as the shot pool (SPEC runs
 * ARC 0-shot, so the pool is only for experiments). Options keep the file's order; most questions have
 * four labelled A–D, but some have 3 or 5 options and some are labelled 1–4 (ARC-Easy test: 97 numeric,
 * 7 with three options, 4 with five), so the answer is found by label rather than assumed to be a letter.
 */
import type { ChoiceItem, TaskData } from '../types.js';
import { EvalError } from '../errors.js';
import { asObject, getArray, getString } from './fields.js';
import { requireFile } from './files.js';
import { readJsonl } from './readers.js';

export type ArcSet = 'ARC-Easy' | 'ARC-Challenge';

/**
 * `task` is the registry name (arc-e / arc-c). Ids are `<task>/<AI2 question id>` (`arc-e/Mercury_417466`),
 * shot ids `<task>/train/<AI2 id>`.
 */
export function loadArc(root: string, set: ArcSet, task: string): TaskData<ChoiceItem> {
  const split = (name: string, idPrefix: string): ChoiceItem[] => {
    const file = requireFile(root, 'arc', set, `${set}-${name}.jsonl`);
    return readJsonl(file).map(({ value, where }) => arcItem(value, where, set, idPrefix));
  };
  return { name: task, items: split('Test', task), shots: split('Train', `${task}/train`) };
}

function arcItem(value: unknown, where: string, set: ArcSet, idPrefix: string): ChoiceItem {
  const row = asObject(value, where);
  const question = asObject(row.question, `${where} (question)`);
  const choices = getArray(question, 'choices', where).map((c, i) => asObject(c, `${where} (choice ${i})`));
  const labels = choices.map((c) => getString(c, 'label', where));
  const key = getString(row, 'answerKey', where);
  const answer = labels.indexOf(key);
  if (answer < 0)
    throw new EvalError(`${where}: answerKey ${JSON.stringify(key)} is not among labels ${labels.join(',')}`);
  if (new Set(labels).size !== labels.length)
    throw new EvalError(`${where}: repeated option labels ${labels.join(',')}`);
  if (choices.length < 2)
    throw new EvalError(`${where}: ${choices.length} option(s), a question needs at least 2`);
  return {
    kind: 'choice',
    id: `${idPrefix}/${getString(row, 'id', where)}`,
    subject: set,
    question: getString(question, 'stem', where),
    options: choices.map((c) => getString(c, 'text', where)),
    answer,
  };
}
