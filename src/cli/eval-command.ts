/**
 * `minicpm eval`: score a model on benchmark tasks (SPEC §8) and write one JSON result per task plus
 * per-item records, from which an interrupted evaluation resumes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadTask, TASK_NAMES } from '../eval/datasets/index.js';
import { EvalError, runTask, type EvalMode, type TaskResult } from '../eval/index.js';
import { loadAnyModel } from '../quant/index.js';
import { loadModelTokenizer } from './model-tokenizer.js';

/** Shots as MiniCPM reported them (SPEC §8). */
export const DEFAULT_SHOTS: Record<string, number> = {
  mmlu: 5,
  cmmlu: 5,
  ceval: 5,
  gsm8k: 8,
  math: 4,
  bbh: 3,
  mbpp: 3,
  humaneval: 0,
  hellaswag: 0,
  'arc-e': 0,
  'arc-c': 0,
};

interface EvalOptions {
  model: string;
  tasks: string;
  mode: string;
  shots?: string;
  limit: string;
  seed: string;
  chat?: boolean;
  out?: string;
  data?: string;
}

export async function evalCommand(o: EvalOptions): Promise<TaskResult[]> {
  if (!o.model) throw new EvalError('eval needs --model DIR');
  const names = o.tasks
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !TASK_NAMES.includes(n));
  if (!names.length || unknown.length)
    throw new EvalError(
      `unknown task ${unknown.join(', ') || '(none)'}; choose from ${TASK_NAMES.join(', ')}`,
    );
  if (!['ppl', 'gen', 'both'].includes(o.mode))
    throw new EvalError(`--mode must be ppl, gen or both, got "${o.mode}"`);
  const model = await loadAnyModel(o.model);
  const tok = loadModelTokenizer(o.model).tokenizer;
  const out = o.out ?? path.join('runs', 'eval', path.basename(path.resolve(o.model)));
  fs.mkdirSync(out, { recursive: true });
  const results: TaskResult[] = [];
  for (const name of names) {
    const task = loadTask(name, o.data);
    const first = task.items[0];
    // multiple choice runs the modes asked for; continuations are likelihood only; answers and code are generated
    const mode: EvalMode =
      first?.kind !== 'choice' ? 'gen' : first.continuation ? 'ppl' : (o.mode as EvalMode);
    const shots = o.shots !== undefined ? Number(o.shots) : (DEFAULT_SHOTS[name] ?? 0);
    const t0 = performance.now();
    const result = await runTask(model, tok, task, {
      mode,
      shots,
      limit: Number(o.limit),
      seed: Number(o.seed),
      chat: o.chat,
      benchmarksDir: o.data,
      recordsFile: path.join(out, `${name}.records.jsonl`),
      onItem: (done, total) => process.stderr.write(`\r${name}: ${done}/${total}`),
    });
    process.stderr.write('\n');
    const seconds = (performance.now() - t0) / 1000;
    fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ ...result, mode, seconds }, null, 1));
    console.log(
      `${name}: ${(100 * result.score).toFixed(2)} (${result.items} items, ${shots}-shot` +
        `${result.ppl ? `, ppl ${(100 * result.ppl.score).toFixed(2)}` : ''}${result.gen ? `, gen ${(100 * result.gen.score).toFixed(2)}` : ''}, ${seconds.toFixed(0)} s)`,
    );
    results.push(result);
  }
  return results;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'score a model on benchmarks: multiple choice by likelihood and/or generation, GSM8K by generation',
    )
    .requiredOption('--model <dir>', 'Hugging Face folder with its tokenizer')
    .option('--tasks <list>', `comma-separated: ${TASK_NAMES.join(', ')}`, 'mmlu')
    .option('--mode <mode>', 'multiple choice: ppl | gen | both (the higher is reported)', 'both')
    .option('--shots <n>', 'few-shot examples (default: as MiniCPM reported each task)')
    .option('--limit <n>', 'score only the first n items, subjects in turn (0: all)', '0')
    .option('--seed <n>', 'sampling seed for generation', '0')
    .option('--chat', "wrap prompts in MiniCPM's chat turn (<用户>…<AI>) for instruction-tuned models")
    .option('--out <dir>', 'results folder (default runs/eval/<model name>)')
    .option('--data <dir>', 'benchmarks folder (default ../shared/data/benchmarks or $MINICPM_BENCHMARKS)')
    .action(async (opts: EvalOptions) => {
      await evalCommand(opts);
    });
}
