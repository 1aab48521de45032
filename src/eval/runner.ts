/**
 * Running a task: every item scored in PPL mode, generation mode or both (SPEC §8: for multiple choice
 * both run and the higher is reported), per-item records appended to a JSONL file so an interrupted
 * evaluation resumes where it stopped, and the task score as the unweighted mean over subjects.
 */
import fs from 'node:fs';
import type { Tokenizer } from '../tokenizer/types.js';
import { answerStyle, type AnswerStyle } from './answer-styles.js';
import { EvalError } from './errors.js';
import { complete, optionLogProbs, type EvalModel } from './endpoint-scoring.js';
import { CODE_MATH, GENERAL } from './generation.js';
import { prefixMatch } from './postprocess.js';
import { choicePrompt, continuationPrompt, letterTargets, pickShots, type PromptOptions } from './prompts.js';
import { runPython } from './code-exec.js';
import { HUMANEVAL_STOPS, humanEvalProgram, mbppProgram, mbppPrompt } from './code-prompts.js';
import type { AnswerItem, ChoiceItem, CodeItem, EvalItem, TaskData } from './types.js';

export type EvalMode = 'ppl' | 'gen' | 'both';

export interface RunOptions extends PromptOptions {
  mode: EvalMode;
  shots: number;
  /** Score only the first `limit` items (0: all), spread over subjects in file order. */
  limit: number;
  seed: number;
  /** Per-item records (JSONL): read back to skip finished items, appended as items finish. */
  recordsFile?: string;
  /** Where BBH's chain-of-thought prompts are read from (default: the benchmarks folder). */
  benchmarksDir?: string;
  onItem?: (done: number, total: number) => void;
}

/** One item's outcome in each mode that ran. */
export interface ItemRecord {
  id: string;
  subject: string;
  ppl?: { correct: boolean; pick: number };
  gen?: { correct: boolean; output: string; extracted?: string | null };
}

export interface ModeScore {
  /** Unweighted mean of the subjects' accuracies. */
  score: number;
  subjects: Record<string, { n: number; accuracy: number }>;
}

export interface TaskResult {
  task: string;
  items: number;
  shots: number;
  ppl?: ModeScore;
  gen?: ModeScore;
  /** The reported score: the higher of the modes that ran. */
  score: number;
}

function readRecords(file: string | undefined): Map<string, ItemRecord> {
  const done = new Map<string, ItemRecord>();
  if (!file || !fs.existsSync(file)) return done;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ItemRecord;
      done.set(r.id, r);
    } catch {
      // a line cut by a kill mid-write: that item is scored again
    }
  }
  return done;
}

/** The first `limit` items, taking subjects in turn so a short run still covers them. */
export function limitItems<I extends EvalItem>(items: readonly I[], limit: number): I[] {
  if (!(limit > 0) || limit >= items.length) return [...items];
  const bySubject = new Map<string, I[]>();
  for (const it of items) bySubject.set(it.subject, [...(bySubject.get(it.subject) ?? []), it]);
  const lists = [...bySubject.values()];
  const out: I[] = [];
  for (let i = 0; out.length < limit; i++)
    for (const l of lists) if (i < l.length && out.length < limit) out.push(l[i]);
  return out;
}

async function scoreChoice(
  model: EvalModel,
  tok: Tokenizer,
  item: ChoiceItem,
  shots: ChoiceItem[],
  o: RunOptions,
): Promise<ItemRecord> {
  const rec: ItemRecord = { id: item.id, subject: item.subject };
  const enc = (s: string) => tok.encode(s);
  if (item.continuation) {
    if (o.mode === 'gen')
      throw new EvalError(`${item.id}: continuation tasks are scored by likelihood only (--mode ppl)`);
    // endings continue the context after a space (HellaSwag stores them without one)
    const context = continuationPrompt(item, o);
    const prompt = [tok.bosId, ...enc(context)].filter((x) => x >= 0);
    const joiner = /\s$/.test(context) ? '' : ' ';
    const scores = await optionLogProbs(
      model,
      prompt,
      item.options.map((opt) => enc(joiner + opt)),
    );
    const pick = argmax(scores.map((s) => s.mean));
    rec.ppl = { correct: pick === item.answer, pick };
    return rec;
  }
  const text = choicePrompt(item, shots, o);
  const prompt = [tok.bosId, ...enc(text)].filter((x) => x >= 0);
  const targets = letterTargets(item.options.length);
  if (o.mode !== 'gen') {
    const scores = await optionLogProbs(model, prompt, targets.map(enc));
    const pick = argmax(scores.map((s) => s.sum));
    rec.ppl = { correct: pick === item.answer, pick };
  }
  if (o.mode !== 'ppl') {
    const output = await complete(model, tok, prompt, {
      ...GENERAL,
      maxNewTokens: 16,
      stop: ['\n'],
      seed: o.seed,
    });
    rec.gen = { correct: prefixMatch(output, targets[item.answer]), output };
  }
  return rec;
}

async function scoreAnswer(
  model: EvalModel,
  tok: Tokenizer,
  item: AnswerItem,
  shots: AnswerItem[],
  style: AnswerStyle,
  o: RunOptions,
): Promise<ItemRecord> {
  if (o.mode === 'ppl')
    throw new EvalError(`${item.id}: free-form answers are scored by generation (--mode gen)`);
  const text = style.prompt(item, shots);
  const prompt = [tok.bosId, ...tok.encode(o.chat ? `<用户>${text}<AI>` : text)].filter((x) => x >= 0);
  const output = await complete(model, tok, prompt, { ...CODE_MATH, stop: style.stops, seed: o.seed });
  const extracted = style.extract(output);
  const correct = extracted !== null && style.same(extracted, item.answer);
  return { id: item.id, subject: item.subject, gen: { correct, output, extracted } };
}

/** pass@1: one sampled completion, run against the item's tests. */
async function scoreCode(
  model: EvalModel,
  tok: Tokenizer,
  item: CodeItem,
  shots: CodeItem[],
  o: RunOptions,
): Promise<ItemRecord> {
  if (o.mode === 'ppl') throw new EvalError(`${item.id}: code is scored by running it (--mode gen)`);
  const humanEval = item.entryPoint !== undefined;
  const text = humanEval ? item.prompt : mbppPrompt(item, shots);
  const prompt = [tok.bosId, ...tok.encode(o.chat ? `<用户>${text}<AI>` : text)].filter((x) => x >= 0);
  const output = await complete(model, tok, prompt, {
    ...CODE_MATH,
    stop: humanEval ? HUMANEVAL_STOPS : ['[DONE]'],
    seed: o.seed,
  });
  const run = runPython(humanEval ? humanEvalProgram(item, output) : mbppProgram(item, output));
  return { id: item.id, subject: item.subject, gen: { correct: run.passed, output, extracted: run.status } };
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

function modeScore(records: ItemRecord[], mode: 'ppl' | 'gen'): ModeScore | undefined {
  const scored = records.filter((r) => r[mode]);
  if (!scored.length) return undefined;
  const subjects: ModeScore['subjects'] = {};
  for (const r of scored) {
    const s = (subjects[r.subject] ??= { n: 0, accuracy: 0 });
    s.n++;
    s.accuracy += r[mode]!.correct ? 1 : 0;
  }
  for (const s of Object.values(subjects)) s.accuracy /= s.n;
  const accs = Object.values(subjects).map((s) => s.accuracy);
  return { score: accs.reduce((a, b) => a + b, 0) / accs.length, subjects };
}

export async function runTask(
  model: EvalModel,
  tok: Tokenizer,
  task: TaskData,
  o: RunOptions,
): Promise<TaskResult> {
  const items = limitItems(task.items, o.limit);
  if (!items.length) throw new EvalError(`task ${task.name} has no items to score`);
  const done = readRecords(o.recordsFile);
  const style = answerStyle(task.name, o.benchmarksDir);
  const records: ItemRecord[] = [];
  for (const [i, item] of items.entries()) {
    let rec = done.get(item.id);
    const lettered = item.kind === 'choice' && !item.continuation;
    const needPpl = item.kind === 'choice' && (item.continuation || o.mode !== 'gen');
    const needGen = item.kind !== 'choice' || (lettered && o.mode !== 'ppl');
    const finished = rec && (!needPpl || rec.ppl) && (!needGen || rec.gen);
    if (!rec || !finished) {
      if (item.kind === 'choice')
        rec = await scoreChoice(model, tok, item, pickShots(item, task.shots as ChoiceItem[], o.shots), o);
      else if (item.kind === 'answer')
        rec = await scoreAnswer(
          model,
          tok,
          item,
          pickShots(item, task.shots as AnswerItem[], o.shots),
          style,
          o,
        );
      else {
        // MBPP's prompt problems are also scored ones: never show a problem its own solution
        const own = item.id.split('/').pop();
        const pool = (task.shots as CodeItem[]).filter((p) => p.id.split('/').pop() !== own);
        rec = await scoreCode(model, tok, item, pickShots(item, pool, o.shots), o);
      }
      if (o.recordsFile) fs.appendFileSync(o.recordsFile, JSON.stringify(rec) + '\n');
    }
    records.push(rec);
    o.onItem?.(i + 1, items.length);
  }
  const ppl = modeScore(records, 'ppl');
  const gen = modeScore(records, 'gen');
  return {
    task: task.name,
    items: items.length,
    shots: o.shots,
    ppl,
    gen,
    score: Math.max(ppl?.score ?? -1, gen?.score ?? -1),
  };
}
