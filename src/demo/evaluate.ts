/**
 * The demo's evaluation, the same items after every stage: held-out instruction tasks (multiple-choice
 * accuracy by mean answer log-likelihood, answer loss, greedy exact match) and a fixed-seed sample of real
 * benchmarks scored as UltraEval scores them in likelihood mode (ARC-e/ARC-c: summed, HellaSwag: mean
 * option log-probability; 0-shot, so the sample does not change any prompt). Benchmark items are recorded
 * one per line as they finish, so an interrupted evaluation resumes where it stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { InstructionItem } from '../data/instruct/synth.js';
import { permutation } from '../data/random.js';
import { defaultBenchmarksDir } from '../eval/datasets/index.js';
import { loadUeSubjects, type UeSubject } from '../eval/ultraeval/records.js';
import { runUltraEvalTask } from '../eval/ultraeval/runner.js';
import { UE_TASKS } from '../eval/ultraeval/tasks.js';
import type { MiniCPM } from '../models/minicpm.js';
import { loadAnyModel } from '../quant/index.js';
import { evaluateInstructions, type TaskScores } from '../sandbox/instruct-eval.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { DemoError } from './options.js';

export interface BenchmarkScore {
  task: string;
  items: number;
  accuracy: number;
  /** Binomial standard error of the accuracy. */
  se: number;
}

export interface EvalScores {
  /** Held-out instruction tasks by kind, plus `all`. */
  instruct: Record<string, TaskScores>;
  benchmarks: BenchmarkScore[];
}

export interface EvalPlan {
  items: InstructionItem[];
  generate: number;
  /** Benchmark names (likelihood-scored UltraEval tasks) and their folder; empty: none. */
  benchmarks: string[];
  benchmarksDir: string;
  perTask: number;
  seed: number;
}

/** Benchmarks the demo can score: UltraEval's likelihood-mode tasks. */
export const PPL_TASKS = Object.keys(UE_TASKS).filter((t) => UE_TASKS[t].ppl && UE_TASKS[t].shots === 0);

export function benchmarkPlan(
  names: string,
  dir: string,
  log: (msg: string) => void,
): { tasks: string[]; dir: string } {
  const tasks = names
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const bad = tasks.filter((t) => !PPL_TASKS.includes(t));
  if (bad.length)
    throw new DemoError(
      `--benchmarks ${bad.join(', ')}: the demo scores ${PPL_TASKS.join(', ')} (0-shot likelihood)`,
    );
  const root = dir || defaultBenchmarksDir();
  if (tasks.length && !fs.existsSync(root)) {
    log(
      `   benchmarks skipped: ${root} does not exist (put the benchmark files there, or pass --benchmarks-dir DIR or --benchmarks '')`,
    );
    return { tasks: [], dir: root };
  }
  return { tasks, dir: root };
}

/** `n` records of each subject drawn by a seeded permutation, kept in file order (ids stay the file's). */
function sample(subjects: readonly UeSubject[], n: number, seed: number): UeSubject[] {
  const total = subjects.reduce((a, s) => a + s.records.length, 0);
  return subjects.map((s) => {
    const want = Math.max(1, Math.round((n * s.records.length) / Math.max(1, total)));
    const pick = Array.from(permutation(s.records.length, seed))
      .slice(0, want)
      .sort((a, b) => a - b);
    return { ...s, records: pick.map((i) => s.records[i]) };
  });
}

async function benchmarkScores(
  model: MiniCPM,
  tokenizerDir: string,
  plan: EvalPlan,
  recordsDir: string,
  log: (msg: string) => void,
): Promise<BenchmarkScore[]> {
  const tok = loadTokenizer(tokenizerDir).tokenizer;
  const out: BenchmarkScore[] = [];
  fs.mkdirSync(recordsDir, { recursive: true });
  for (const name of plan.benchmarks) {
    const subjects = sample(loadUeSubjects(name, plan.benchmarksDir), plan.perTask, plan.seed);
    const r = await runUltraEvalTask(model, tok, UE_TASKS[name], subjects, {
      mode: 'ppl',
      seed: plan.seed,
      limit: 0,
      recordsFile: path.join(recordsDir, `${name}.records.jsonl`),
    });
    const n = r.items;
    const acc = r.score;
    out.push({ task: name, items: n, accuracy: acc, se: Math.sqrt((acc * (1 - acc)) / Math.max(1, n)) });
    log(`   ${name}: ${(100 * acc).toFixed(1)}% ±${(100 * out[out.length - 1].se).toFixed(1)} of ${n}`);
  }
  return out;
}

/** Scores the model folder `dir` (float or GPTQ) on the plan; benchmark records go under `recordsDir`. */
export async function evaluateModel(
  dir: string,
  tokenizerDir: string,
  plan: EvalPlan,
  recordsDir: string,
  log: (msg: string) => void,
): Promise<EvalScores> {
  const model = await loadAnyModel(dir);
  try {
    const tok = loadTokenizer(tokenizerDir).tokenizer;
    const instruct = await evaluateInstructions(model, tok, plan.items, plan.generate);
    const a = instruct.all;
    log(
      `   instruction tasks: choice ${(100 * a.choiceAccuracy).toFixed(1)}% of ${a.n}, answer loss ${a.answerLoss.toFixed(3)}, ` +
        `exact match ${(100 * a.exactMatch).toFixed(1)}% of ${a.generated}`,
    );
    const benchmarks = await benchmarkScores(model, tokenizerDir, plan, recordsDir, log);
    return { instruct, benchmarks };
  } finally {
    for (const p of model.parameters()) p.dispose();
  }
}
