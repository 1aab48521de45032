/**
 * How each free-form task is prompted and judged. GSM8K: "Question: …\nAnswer: " with worked solutions,
 * judged on the final number. MATH: "Problem: …\nSolution: " with worked solutions, judged on the last
 * \boxed{} after light LaTeX normalisation. BBH: the sub-task's 3-shot chain-of-thought prompt, then
 * "Q: …\nA: Let's think step by step.", judged on what follows "the answer is".
 */
import { bbhShotPrompt } from './datasets/bbh.js';
import { lastBoxed } from './datasets/math.js';
import { extractNumber, normalizeNumber } from './postprocess.js';
import { answerPrompt } from './prompts.js';
import type { AnswerItem } from './types.js';

export interface AnswerStyle {
  prompt(item: AnswerItem, shots: readonly AnswerItem[]): string;
  /** Text that ends a completion: the start of the next example. */
  stops: string[];
  /** The answer in a completion, or null when there is none. */
  extract(output: string): string | null;
  same(extracted: string, reference: string): boolean;
}

/** "\dfrac{1}{2}" ≡ "\frac12"-style differences that are not mistakes: spacing, \left/\right, dfrac, $…$. */
export function normalizeLatex(s: string): string {
  return s
    .replace(/\\(left|right|!|,|;|:)/g, '')
    .replace(/\\[dt]frac/g, '\\frac')
    .replace(/\^\{\\circ\}|\^\\circ|°/g, '')
    .replace(/\\text\{\s*([^}]*)\}/g, '$1')
    .replace(/\$/g, '')
    .replace(/\s+/g, '')
    .replace(/\.$/, '');
}

const GSM8K: AnswerStyle = {
  prompt: (item, shots) => answerPrompt(item, shots),
  stops: ['\n\nQuestion:', 'Question:'],
  extract: extractNumber,
  same: (x, ref) => x === (normalizeNumber(ref) ?? ref.trim()),
};

const MATH: AnswerStyle = {
  prompt: (item, shots) =>
    [
      ...shots.map((s) => `Problem:\n${s.question}\nSolution:\n${s.solution ?? s.answer}`),
      `Problem:\n${item.question}\nSolution:\n`,
    ].join('\n\n'),
  stops: ['\n\nProblem:', 'Problem:'],
  extract: (out) => lastBoxed(out) ?? /answer is\s*\$?([^$\n]+?)\$?\.?\s*$/m.exec(out)?.[1] ?? null,
  same: (x, ref) => {
    const [a, b] = [normalizeLatex(x), normalizeLatex(ref)];
    return a === b || (normalizeNumber(a) !== null && normalizeNumber(a) === normalizeNumber(b));
  },
};

const bbh = (benchmarksDir?: string): AnswerStyle => {
  const prompts = new Map<string, string>();
  return {
    prompt: (item) => {
      let shots = prompts.get(item.subject);
      if (shots === undefined)
        prompts.set(item.subject, (shots = bbhShotPrompt(item.subject, benchmarksDir)));
      return `${shots}\n\nQ: ${item.question}\nA: Let's think step by step.`;
    },
    stops: ['\n\nQ:', '\nQ:'],
    extract: (out) => {
      const all = [...out.matchAll(/the answer is\s*(.+?)\s*(?:\.\s*)?$/gim)];
      return all.length ? all[all.length - 1][1].trim() : null;
    },
    same: (x, ref) => x.replace(/\.$/, '').trim() === ref.trim(),
  };
};

export function answerStyle(task: string, benchmarksDir?: string): AnswerStyle {
  if (task === 'math') return MATH;
  if (task === 'bbh') return bbh(benchmarksDir);
  return GSM8K;
}
