/**
 * The eleven benchmarks as UltraEval's task configs set them up for MiniCPM-2B (SPEC §8): the description,
 * the transform that renders an item (its `input`, the `output` a shot shows, the accepted targets), the
 * shot count, the sampling parameters, the post-processor and metric, and — for ARC and HellaSwag only —
 * the PPL mode, which scores the prompt followed by each option's text.
 */
import { EvalError } from '../errors.js';
import { lastBoxedOnly, mathPost, removeBoxed } from './math-answer.js';
import { pyStrip } from './py-str.js';
import { bbhPost, gsm8kPost, humanevalPost, mbppPost } from './postprocess.js';
import type { UeRecord } from './records.js';
import { CEVAL_NAMES, CMMLU_NAMES } from './subject-names.js';

export interface Transformed {
  input: string;
  /** What a shot appends to its input. */
  output: string;
  /** The processed reference(s) the metric compares with. */
  targets: string[];
}

export interface Sampling {
  temperature: number;
  topP: number;
  maxTokens: number;
}

/** vllm_sample.json (the default), vllm_sample_v1.json (code and math), vllm_sample_bbh.json. */
export const SAMPLE: Sampling = { temperature: 0.3, topP: 0.8, maxTokens: 300 };
export const SAMPLE_V1: Sampling = { temperature: 0.1, topP: 0.95, maxTokens: 300 };
export const SAMPLE_BBH: Sampling = { temperature: 0.3, topP: 0.8, maxTokens: 1024 };

export type Metric = 'prefix' | 'qa' | 'exact' | 'in' | 'code';

export interface UeTask {
  name: string;
  shots: number;
  description(subject: string): string;
  transform(r: UeRecord): Transformed;
  sampling: Sampling;
  /** Applied to the raw generation before the metric (identity where the config names none). */
  post(text: string): string;
  metric: Metric;
  /** PPL mode: the text each option is appended to, and how options compare (sum, or mean after the shared tokens). */
  ppl?: { input(r: UeRecord): string; reduce: 'sum' | 'mean' };
}

const letter = (i: number) => `(${String.fromCharCode(65 + i)})`;
const options = (r: UeRecord) => r.options.map((o, i) => `${letter(i)} ${o}\n`).join('');
const correct = (r: UeRecord) => letter(r.scores.indexOf(1));

function englishChoice(r: UeRecord): Transformed {
  const input =
    `Question:\n${r.question}\n` +
    'Requirement:\nChoose and respond with the letter of the correct answer, including the parentheses.\n' +
    `Options:\n${options(r)}Answer:\n`;
  return { input, output: correct(r), targets: [correct(r)] };
}

function chineseChoice(r: UeRecord): Transformed {
  const input =
    `问题：\n${r.question}\n要求：\n从以下选项中选择并回答正确答案的选项字母，包括左右括号。\n` +
    `选项：\n${options(r)}答案：\n`;
  return { input, output: correct(r), targets: [correct(r)] };
}

function hellaswagChoice(r: UeRecord): Transformed {
  // r.question is "<activity_label>: <ctx>" already, the two fields UltraEval joins with ": "
  const input =
    `Context:\n ${r.question}\nQuestion:\nWhich ending makes the most sense?\n` +
    'Requirement:\nChoose and respond with the letter of the correct answer, including the parentheses.\n' +
    `Options:\n${options(r)}Answer:\n`;
  return { input, output: correct(r), targets: [correct(r)] };
}

/** The reference MATH answer: math_post of the solution's last \boxed{…}; null when it has none. */
export function mathReference(solution: string): string | null {
  const boxed = removeBoxed(lastBoxedOnly(solution));
  return boxed === null ? null : mathPost(boxed);
}

const noDescription = () => '';
const identity = (t: string) => t;

const CHOICE = { sampling: SAMPLE, post: identity };

export const UE_TASKS: Record<string, UeTask> = {
  mmlu: {
    name: 'mmlu',
    shots: 5,
    description: (s) => `The following are multiple choice questions (with answers) about ${s}.\n\n`,
    transform: englishChoice,
    metric: 'prefix',
    ...CHOICE,
  },
  cmmlu: {
    name: 'cmmlu',
    shots: 5,
    description: (s) => `以下是关于${subjectName(CMMLU_NAMES, s)}的单项选择题，请直接给出正确答案的选项。`,
    transform: chineseChoice,
    metric: 'prefix',
    ...CHOICE,
  },
  ceval: {
    name: 'ceval',
    shots: 5,
    description: (s) =>
      `以下是中国关于${subjectName(CEVAL_NAMES, s)}考试的单项选择题，请选出其中的正确答案。`,
    transform: chineseChoice,
    metric: 'prefix',
    ...CHOICE,
  },
  'arc-e': arc('arc-e'),
  'arc-c': arc('arc-c'),
  hellaswag: {
    name: 'hellaswag',
    shots: 0,
    description: noDescription,
    transform: hellaswagChoice,
    metric: 'qa',
    ...CHOICE,
    ppl: { input: (r) => `${r.question} `, reduce: 'mean' },
  },
  gsm8k: {
    name: 'gsm8k',
    shots: 8,
    description: noDescription,
    transform: (r) => ({
      input: `Question: ${r.question}\nAnswer: `,
      output: r.answer,
      targets: [gsm8kPost(r.answer)],
    }),
    sampling: SAMPLE_V1,
    post: gsm8kPost,
    metric: 'exact',
  },
  math: {
    name: 'math',
    shots: 4,
    description: noDescription,
    transform: (r) => {
      const ref = mathReference(r.answer);
      if (ref === null)
        throw new EvalError(`math/${r.subject}/${r.index}: the solution has no \\boxed{…} answer`);
      return {
        input: `Problem: ${r.question}\nSolution: `,
        output: `${r.answer}\nFinal Answer: The final answer is $${ref}$. I hope it is correct.`,
        targets: [ref],
      };
    },
    sampling: SAMPLE_V1,
    post: mathPost,
    metric: 'exact',
  },
  bbh: {
    name: 'bbh',
    shots: 0, // the three chain-of-thought examples are part of the input
    description: noDescription,
    transform: (r) => ({
      input: `${pyStrip(r.cot ?? '')}\n\nQ: ${pyStrip(r.question)}\nA: Let's think step by step.`,
      output: '',
      targets: (r.answers ?? []).map((a) => a.toLowerCase()),
    }),
    sampling: SAMPLE_BBH,
    post: bbhPost,
    metric: 'in',
  },
  humaneval: {
    name: 'humaneval',
    shots: 0,
    description: noDescription,
    transform: (r) => ({ input: pyStrip(r.prompt ?? ''), output: '', targets: [''] }),
    sampling: SAMPLE_V1,
    post: humanevalPost,
    metric: 'code',
  },
  mbpp: {
    name: 'mbpp',
    shots: 3,
    description: noDescription,
    transform: (r) => ({
      input: `"""${r.question}\n${(r.testList ?? []).join('\n')}"""`,
      output: r.code ?? '',
      targets: [r.code ?? ''],
    }),
    sampling: SAMPLE_V1,
    post: mbppPost,
    metric: 'code',
  },
};

function arc(name: string): UeTask {
  return {
    name,
    shots: 0,
    description: noDescription,
    transform: englishChoice,
    metric: 'qa',
    ...CHOICE,
    ppl: { input: (r) => `Question: ${r.question}\nAnswer: `, reduce: 'sum' },
  };
}

function subjectName(table: Record<string, string>, subject: string): string {
  const name = table[subject];
  if (name === undefined)
    throw new EvalError(
      `no UltraEval subject name for '${subject}'; the benchmark copy has an unknown subject file`,
    );
  return name;
}

/** The program a completion is judged by, as UltraEval's function_execution builds it. */
export function codeProgram(r: UeRecord, completion: string): string {
  if (r.testList) {
    const tests = r.testList.join('\n');
    return `"""${r.question}\n${tests}"""\n${completion}\n${tests}`;
  }
  return `${r.prompt ?? ''}${completion}\n${r.test ?? ''}\ncheck(${r.entryPoint ?? ''})`;
}
