/**
 * `minicpm eval`: score a model on benchmark tasks (SPEC §8) and write one JSON result per task plus
 * per-item records, from which an interrupted evaluation resumes.
 *
 * Protocols: `ultraeval` (the default) reproduces how UltraEval scored MiniCPM's published table —
 * templates, descriptions, seeded random shots from the scored file, generation settings, post-processing,
 * matching, dropped items. `minicpm-legacy` is this harness's earlier protocol (lettered likelihood and
 * generation for every multiple-choice set, the better reported; dev/train shots; stop strings).
 * `--dry-run --dump-prompts FILE` renders the ultraeval prompts without a model.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { KV_CACHE_FLAG, KV_CACHE_HELP, kvCacheOption } from './kv-cache-option.js';
import { defaultBenchmarksDir, downloadTask, loadTask, TASK_NAMES } from '../eval/datasets/index.js';
import { EvalError, runTask, setUnsafeExec, type EvalMode, type TaskResult } from '../eval/index.js';
import { loadUeSubjects, type MathSet } from '../eval/ultraeval/records.js';
import { runUltraEvalTask, ultraEvalPrompts, type UeMode } from '../eval/ultraeval/runner.js';
import { UE_TASKS } from '../eval/ultraeval/tasks.js';
import { EndpointBackend } from '../eval/endpoint.js';
import type { EvalModel } from '../eval/endpoint-scoring.js';
import { loadAdapter } from '../align/lora.js';
import { loadAnyModel } from '../quant/index.js';
import { ADAPTER_HELP } from './adapter-option.js';
import { loadModelTokenizer } from './model-tokenizer.js';
import type { Tokenizer } from '../tokenizer/types.js';

/** Shots as MiniCPM reported them (SPEC §8); the legacy protocol's defaults. */
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

export const PROTOCOLS = ['ultraeval', 'minicpm-legacy'] as const;

interface EvalOptions {
  model?: string;
  tasks: string;
  protocol: string;
  mode?: string;
  shots?: string;
  limit: string;
  seed: string;
  chat?: boolean;
  out?: string;
  data?: string;
  mathSet: string;
  dryRun?: boolean;
  dumpPrompts?: string;
  adapter?: string;
  kvCache?: string;
  endpoint?: string;
  apiKey?: string;
  tokenizer?: string;
  unsafeExec?: boolean;
  download?: string;
}

function intOption(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new EvalError(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

function checkOptions(o: EvalOptions): string[] {
  const names = o.tasks
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !TASK_NAMES.includes(n));
  if (!names.length || unknown.length)
    throw new EvalError(
      `unknown task ${unknown.join(', ') || '(none)'}; choose from ${TASK_NAMES.join(', ')}`,
    );
  if (!(PROTOCOLS as readonly string[]).includes(o.protocol))
    throw new EvalError(`--protocol must be ${PROTOCOLS.join(' or ')}, got "${o.protocol}"`);
  if (!['full', '500'].includes(o.mathSet))
    throw new EvalError(`--math-set must be full or 500, got "${o.mathSet}"`);
  const modes = o.protocol === 'ultraeval' ? ['gen', 'ppl'] : ['ppl', 'gen', 'both'];
  if (o.mode !== undefined && !modes.includes(o.mode))
    throw new EvalError(`--mode for the ${o.protocol} protocol must be ${modes.join(', ')}, got "${o.mode}"`);
  if (o.dumpPrompts && !o.dryRun) throw new EvalError('--dump-prompts goes with --dry-run');
  if (o.dryRun && o.protocol !== 'ultraeval')
    throw new EvalError('--dry-run renders the ultraeval protocol only; drop --protocol minicpm-legacy');
  if (!o.dryRun && !o.model && !o.endpoint)
    throw new EvalError('eval needs --model DIR or --endpoint URL (or --dry-run to render prompts only)');
  const root = o.data ?? defaultBenchmarksDir();
  if (!fs.existsSync(root))
    throw new EvalError(
      `no benchmark files at ${root}: fetch them with \`minicpm eval --download ${names.join(',')} --data DIR\` ` +
        `and pass --data DIR (or set MINICPM_BENCHMARKS=DIR); without network access that command lists the files ` +
        `to download and where to put them`,
    );
  if (o.endpoint && !(o.tokenizer ?? o.model))
    throw new EvalError(
      "--endpoint needs --tokenizer DIR: the served model's tokenizer, to build the prompts",
    );
  return names;
}

const mathSet = (o: EvalOptions): MathSet => (o.mathSet === '500' ? 'math500' : 'full');

/** Writes every item's prompt as JSON lines; returns the number written. */
export function dumpPrompts(o: EvalOptions): number {
  const names = checkOptions(o);
  const root = o.data ?? defaultBenchmarksDir();
  const mode = (o.mode ?? 'gen') as UeMode;
  // written task by task: the full dump is ~140 MB
  const fd = o.dumpPrompts ? fs.openSync(o.dumpPrompts, 'w') : 1;
  let count = 0;
  try {
    for (const name of names) {
      const task = UE_TASKS[name];
      const subjects = loadUeSubjects(name, root, { mathSet: mathSet(o) });
      const prompts = ultraEvalPrompts(task, subjects, {
        mode,
        seed: intOption('--seed', o.seed),
        shots: o.shots !== undefined ? intOption('--shots', o.shots) : undefined,
        limit: intOption('--limit', o.limit),
      });
      const lines = prompts.map((p) => {
        const line: Record<string, unknown> = {
          task: name,
          subject: p.record.subject,
          index: p.record.index,
          prompt: o.chat ? `<用户>${p.prompt}<AI>` : p.prompt,
          target: p.targets.length === 1 ? p.targets[0] : p.targets,
        };
        if (mode === 'ppl') line.options = p.record.options;
        return JSON.stringify(line) + '\n';
      });
      fs.writeSync(fd, lines.join(''));
      count += lines.length;
      const dropped = subjects.flatMap((s) => s.dropped.map((d) => `${s.subject}/${d.index} (${d.reason})`));
      if (dropped.length)
        process.stderr.write(`${name}: UltraEval drops ${dropped.length}: ${dropped.join('; ')}\n`);
    }
  } finally {
    if (fd !== 1) fs.closeSync(fd);
  }
  return count;
}

async function runOne(model: EvalModel, tok: Tokenizer, name: string, o: EvalOptions, out: string) {
  const seed = intOption('--seed', o.seed);
  const limit = intOption('--limit', o.limit);
  const shotsArg = o.shots !== undefined ? intOption('--shots', o.shots) : undefined;
  const onItem = (done: number, total: number) => process.stderr.write(`\r${name}: ${done}/${total}`);
  if (o.protocol === 'ultraeval') {
    const mode = (o.mode ?? 'gen') as UeMode;
    const subjects = loadUeSubjects(name, o.data ?? defaultBenchmarksDir(), { mathSet: mathSet(o) });
    const result = await runUltraEvalTask(model, tok, UE_TASKS[name], subjects, {
      mode,
      seed,
      shots: shotsArg,
      limit,
      chat: o.chat,
      recordsFile: path.join(out, `${name}.ultraeval-${mode}.records.jsonl`),
      onItem,
    });
    return { result, mode: mode as string };
  }
  const task = loadTask(name, o.data);
  const first = task.items[0];
  // multiple choice runs the modes asked for; continuations are likelihood only; answers and code are generated
  const mode: EvalMode =
    first?.kind !== 'choice' ? 'gen' : first.continuation ? 'ppl' : ((o.mode ?? 'both') as EvalMode);
  const result = await runTask(model, tok, task, {
    mode,
    shots: shotsArg ?? DEFAULT_SHOTS[name] ?? 0,
    limit,
    seed,
    chat: o.chat,
    benchmarksDir: o.data,
    recordsFile: path.join(out, `${name}.records.jsonl`),
    onItem,
  });
  return { result, mode: mode as string };
}

/** `--download TASKS --data DIR`: fetches each task's published files (all of them tried; errors together). */
export async function downloadBenchmarks(o: EvalOptions): Promise<void> {
  if (!o.data) throw new EvalError('--download needs --data DIR: the folder to put the benchmark files in');
  const names =
    o.download === 'all'
      ? TASK_NAMES
      : o
          .download!.split(',')
          .map((t) => t.trim())
          .filter(Boolean);
  const failed: string[] = [];
  for (const name of names) {
    try {
      const n = await downloadTask(name, o.data, {
        onFile: (dest, bytes) =>
          process.stderr.write(`${name}: ${dest} (${(bytes / 2 ** 20).toFixed(1)} MB)\n`),
      });
      process.stderr.write(`${name}: ${n ? `${n} files written` : 'already there'} under ${o.data}\n`);
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      failed.push(e.message);
    }
  }
  if (failed.length) throw new EvalError(failed.join('\n'));
}

export async function evalCommand(o: EvalOptions): Promise<TaskResult[]> {
  const names = checkOptions(o);
  if (o.dryRun) {
    const n = dumpPrompts(o);
    process.stderr.write(`${n} prompts${o.dumpPrompts ? ` written to ${o.dumpPrompts}` : ''}\n`);
    return [];
  }
  const modelDir = o.model ?? o.tokenizer!;
  let model: EvalModel;
  if (o.endpoint) model = new EndpointBackend(o.endpoint, { apiKey: o.apiKey ?? process.env.OPENAI_API_KEY });
  else {
    const local = await loadAnyModel(modelDir);
    if (o.adapter) loadAdapter(o.adapter, local);
    local.kvCacheDtype = kvCacheOption(o.kvCache ?? 'f32');
    model = local;
  }
  const tok = loadModelTokenizer(o.tokenizer ?? modelDir).tokenizer; // a .gguf carries its own
  const name = o.endpoint
    ? new URL(o.endpoint).host.replace(/[:]/g, '-')
    : path.basename(path.resolve(modelDir));
  const out = o.out ?? path.join('runs', 'eval', name);
  fs.mkdirSync(out, { recursive: true });
  const results: TaskResult[] = [];
  for (const name of names) {
    const t0 = performance.now();
    const { result, mode } = await runOne(model, tok, name, o, out);
    process.stderr.write('\n');
    const seconds = (performance.now() - t0) / 1000;
    const file = o.protocol === 'ultraeval' ? `${name}.ultraeval-${mode}.json` : `${name}.json`;
    fs.writeFileSync(
      path.join(out, file),
      JSON.stringify({ ...result, protocol: o.protocol, mode, seed: Number(o.seed), seconds }, null, 1),
    );
    console.log(
      `${name}: ${(100 * result.score).toFixed(2)} (${o.protocol}, ${result.items} items, ${result.shots}-shot` +
        `${result.ppl ? `, ppl ${(100 * result.ppl.score).toFixed(2)}` : ''}${result.gen ? `, gen ${(100 * result.gen.score).toFixed(2)}` : ''}, ${seconds.toFixed(0)} s)`,
    );
    results.push(result);
  }
  return results;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('score a model on benchmarks as UltraEval scored MiniCPM (or the legacy protocol)')
    .option('--model <dir>', 'model folder (float, GPTQ) or .gguf file (not needed with --dry-run)')
    .option('--tasks <list>', `comma-separated: ${TASK_NAMES.join(', ')}`, 'mmlu')
    .option('--protocol <name>', 'ultraeval (as MiniCPM was scored) | minicpm-legacy', 'ultraeval')
    .option(
      '--mode <mode>',
      'ultraeval: gen (default) | ppl (arc-e, arc-c, hellaswag only); legacy multiple choice: ppl | gen | both (default)',
    )
    .option('--shots <n>', "few-shot examples (default: the protocol's per task)")
    .option('--limit <n>', 'score only the first n items, subjects in turn (0: all)', '0')
    .option('--seed <n>', 'seed of the shot draws (ultraeval) and of sampling', '0')
    .option('--math-set <set>', 'ultraeval MATH: full (all 5,000 test problems) | 500 (MATH-500)', 'full')
    .option('--chat', "wrap prompts in MiniCPM's chat turn (<用户>…<AI>) for instruction-tuned models")
    .option('--dry-run', 'render prompts without a model (ultraeval protocol)')
    .option(
      '--dump-prompts <file>',
      'with --dry-run: one JSON line per item {task, subject, index, prompt, target}',
    )
    .option('--out <dir>', 'results folder (default runs/eval/<model name>)')
    .option('--data <dir>', 'benchmarks folder (default ../shared/data/benchmarks or $MINICPM_BENCHMARKS)')
    .option(
      '--download <tasks>',
      "fetch these tasks' published files (comma-separated, or all) into --data DIR first; alone, only fetches",
    )
    .option('--adapter <dir>', ADAPTER_HELP)
    .option(KV_CACHE_FLAG, KV_CACHE_HELP, 'f32')
    .option('--endpoint <url>', 'score an OpenAI-compatible server instead (e.g. http://127.0.0.1:8080/v1)')
    .option('--api-key <key>', 'bearer token for --endpoint (or OPENAI_API_KEY)')
    .option('--tokenizer <dir>', "with --endpoint: the served model's tokenizer folder")
    .option(
      '--unsafe-exec',
      'run HumanEval/MBPP programs without a sandbox where bubblewrap cannot start (they get your rights)',
    )
    .action(async (opts: EvalOptions) => {
      if (opts.unsafeExec) setUnsafeExec(true);
      if (opts.download) {
        await downloadBenchmarks(opts);
        if (!opts.model && !opts.endpoint && !opts.dryRun) return;
      }
      await evalCommand(opts);
    });
}
