/**
 * Code tasks. HumanEval (0-shot): the model continues the function signature and docstring; the
 * completion is cut where a new top-level block starts. MBPP (3-shot, the original paper's format):
 * task text and its tests, code between [BEGIN] and [DONE].
 */
import type { CodeItem } from './types.js';

/** Where a HumanEval completion ends: the next top-level statement. */
export const HUMANEVAL_STOPS = ['\ndef ', '\nclass ', '\nif __name__', '\nprint(', '\n#', '\nassert '];

export function mbppQuestion(item: CodeItem): string {
  return `You are an expert Python programmer, and here is your task: ${item.prompt} Your code should pass these tests:\n\n${item.tests}\n[BEGIN]\n`;
}

export function mbppPrompt(item: CodeItem, shots: readonly CodeItem[]): string {
  const examples = shots.map((s) => `${mbppQuestion(s)}${s.solution ?? ''}\n[DONE]`);
  return [...examples, mbppQuestion(item)].join('\n\n');
}

/** The program a HumanEval completion is judged by. */
export function humanEvalProgram(item: CodeItem, completion: string): string {
  return `${item.prompt}${completion}\n\n${item.tests}\n\ncheck(${item.entryPoint ?? 'candidate'})\n`;
}

/** The program an MBPP answer is judged by (the code before [DONE]). */
export function mbppProgram(item: CodeItem, generated: string): string {
  const code = generated.split('[DONE]')[0];
  return `${code}\n\n${item.tests}\n`;
}
