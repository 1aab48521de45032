/**
 * The items an evaluation task is made of, whatever file format they came from (SPEC §8). Loaders in
 * datasets/ turn each benchmark's files into these; prompts, scoring and the runner only see these.
 */

/** A multiple-choice question: scored by likelihood of each option (PPL mode) or by generating a letter. */
export interface ChoiceItem {
  kind: 'choice';
  /** Stable within the task (file and row), for result files and resuming. */
  id: string;
  /** Subject or sub-task (MMLU subject, ARC-Easy/ARC-Challenge, …); the task score averages subjects. */
  subject: string;
  question: string;
  /** Option texts without their letters. */
  options: string[];
  /** Index of the correct option. */
  answer: number;
  /**
   * Continuation tasks (HellaSwag): the options continue `question` directly and are scored by the
   * per-token mean log-likelihood of the option part; there is no lettered form.
   */
  continuation?: boolean;
}

/** A question with a free-form answer compared after post-processing (GSM8K, MATH, BBH). */
export interface AnswerItem {
  kind: 'answer';
  id: string;
  subject: string;
  question: string;
  /** The reference answer, normalised as the task compares it (GSM8K: the number after ####). */
  answer: string;
  /** A worked solution ending in the answer, for few-shot prompts. */
  solution?: string;
}

/** A programming problem checked by running its tests (HumanEval, MBPP). */
export interface CodeItem {
  kind: 'code';
  id: string;
  subject: string;
  /** What the model sees: a function signature with docstring (HumanEval) or a task text (MBPP). */
  prompt: string;
  /** Python test code run after the completion; it raises on failure. */
  tests: string;
  /** The function the tests call (HumanEval: `check(entry_point)`). */
  entryPoint?: string;
  /** A reference solution (for checking the runner and for few-shot prompts). */
  solution?: string;
}

export type EvalItem = ChoiceItem | AnswerItem | CodeItem;

/** A loaded task: the scored split and the pool few-shot examples are drawn from (same subject first). */
export interface TaskData<I extends EvalItem = EvalItem> {
  name: string;
  items: I[];
  shots: I[];
}
