/**
 * Prompt building as MiniCPM's harness (UltraEval) does it (SPEC §8). Multiple choice:
 *
 *   Question:\n{q}\nRequirement:\nChoose and respond with the letter of the correct answer, including the
 *   parentheses.\nOptions:\n(A) …\n(B) …\nAnswer:\n            → target "(B)"
 *
 * Free-form answers (GSM8K): "Question: {q}\nAnswer: " → the worked solution. Few-shot examples are the
 * same format with their targets filled in, separated by blank lines. `chat` wraps the whole prompt in
 * MiniCPM's chat turn (`<用户>…<AI>`) for instruction-tuned models.
 */
import type { AnswerItem, ChoiceItem } from './types.js';

export const LETTERS = 'ABCDEFGHIJ';
const SHOT_SEPARATOR = '\n\n';

export interface PromptOptions {
  chat?: boolean;
}

/** "(A)", "(B)", …: the targets of a lettered question. */
export const letterTargets = (n: number): string[] => Array.from({ length: n }, (_, i) => `(${LETTERS[i]})`);

export function choiceQuestion(item: ChoiceItem): string {
  const options = item.options.map((o, i) => `(${LETTERS[i]}) ${o}`).join('\n');
  return (
    `Question:\n${item.question}\nRequirement:\nChoose and respond with the letter of the correct answer, ` +
    `including the parentheses.\nOptions:\n${options}\nAnswer:\n`
  );
}

function wrap(prompt: string, o: PromptOptions): string {
  return o.chat ? `<用户>${prompt}<AI>` : prompt;
}

/** A lettered question after its few-shot examples; the targets are `letterTargets(options)`. */
export function choicePrompt(item: ChoiceItem, shots: readonly ChoiceItem[], o: PromptOptions = {}): string {
  const examples = shots.map((s) => `${choiceQuestion(s)}${letterTargets(s.options.length)[s.answer]}`);
  return wrap([...examples, choiceQuestion(item)].join(SHOT_SEPARATOR), o);
}

/** A continuation item (HellaSwag): the context itself; the options continue it. */
export function continuationPrompt(item: ChoiceItem, o: PromptOptions = {}): string {
  return wrap(item.question, o);
}

export function answerQuestion(item: AnswerItem): string {
  return `Question: ${item.question}\nAnswer: `;
}

/** A free-form question after worked examples (GSM8K: each shot's solution ends in "#### n"). */
export function answerPrompt(item: AnswerItem, shots: readonly AnswerItem[], o: PromptOptions = {}): string {
  const examples = shots.map((s) => `${answerQuestion(s)}${s.solution ?? s.answer}`);
  return wrap([...examples, answerQuestion(item)].join(SHOT_SEPARATOR), o);
}

/**
 * Up to `k` few-shot examples for an item: same subject first, in pool order (deterministic), never the
 * item itself.
 */
export function pickShots<I extends { id: string; subject: string }>(
  item: I,
  pool: readonly I[],
  k: number,
): I[] {
  if (k <= 0) return [];
  const same = pool.filter((p) => p.subject === item.subject && p.id !== item.id);
  const other = pool.filter((p) => p.subject !== item.subject && p.id !== item.id);
  return [...same, ...other].slice(0, k);
}
