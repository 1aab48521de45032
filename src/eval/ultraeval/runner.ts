/**
 * Scoring a task as UltraEval scored MiniCPM (SPEC §8). Generation: the prompt (BOS first, as vLLM's
 * tokenizer adds it) is sampled with the task's parameters until EOS or the token limit — no stop strings
 * — then post-processed and matched; generation ends early only once the text has fixed the outcome. PPL
 * (ARC, HellaSwag): each option's text is appended to the PPL input and the whole string tokenized; ARC
 * compares the summed log-probability, HellaSwag the mean over the tokens after those all options share.
 * Per-item records go to a JSONL file from which an interrupted run resumes; the task score is the
 * unweighted mean of the subjects' accuracies.
 */
import fs from 'node:fs';
import type { Tokenizer } from '../../tokenizer/types.js';
import { runPython } from '../code-exec.js';
import { EvalError } from '../errors.js';
import { complete, optionLogProbs, type EvalModel } from '../endpoint-scoring.js';
import type { ItemRecord, ModeScore, TaskResult } from '../runner.js';
import { bbhPost, exactMatch, humanevalPost, inMatch, prefixMatch, qaMatch } from './postprocess.js';
import { renderSubject, type UePrompt } from './prompts.js';
import { pyStrip } from './py-str.js';
import type { UeSubject } from './records.js';
import { codeProgram, type UeTask } from './tasks.js';

export type UeMode = 'gen' | 'ppl';

export interface UeRunOptions {
  mode: UeMode;
  seed: number;
  /** Shot count (default the task's). */
  shots?: number;
  /** Score only `limit` items (0: all), taking each subject's first items in turn. */
  limit: number;
  /** Wrap prompts in MiniCPM's chat turn (`<用户>…<AI>`). */
  chat?: boolean;
  recordsFile?: string;
  onItem?: (done: number, total: number) => void;
}

export const itemId = (task: string, p: UePrompt) => `${task}/${p.record.subject}/${p.record.index}`;

/** Every subject's prompts, then the first `limit` taken subject by subject in turn. */
export function ultraEvalPrompts(task: UeTask, subjects: readonly UeSubject[], o: UeRunOptions): UePrompt[] {
  if (o.mode === 'ppl' && !task.ppl)
    throw new EvalError(
      `${task.name} has no PPL mode in UltraEval (only arc-e, arc-c and hellaswag); use --mode gen`,
    );
  const lists = subjects.map((s) =>
    renderSubject(task, s, { seed: o.seed, shots: o.shots, ppl: o.mode === 'ppl' }),
  );
  const total = lists.reduce((a, l) => a + l.length, 0);
  if (!(o.limit > 0) || o.limit >= total) return lists.flat();
  const out: UePrompt[] = [];
  for (let i = 0; out.length < o.limit; i++)
    for (const l of lists) if (i < l.length && out.length < o.limit) out.push(l[i]);
  return out;
}

/** When the text so far fixes the metric's outcome (see the file comment); undefined: never early. */
export function decider(task: UeTask, p: UePrompt): ((text: string) => boolean) | undefined {
  const target = p.targets[0] ?? '';
  switch (task.metric) {
    case 'prefix': {
      // once the stripped text is as long as the target its first characters are final
      const n = pyStrip(target).length;
      return (t) => pyStrip(t).length >= n;
    }
    case 'in':
      return (t) => pyStrip(t).includes('\n\n') && bbhPost(t) === bbhPost(`${t}x`);
    case 'qa':
      // a complete first line naming the right letter scores 1 whatever follows
      return (t) => {
        const s = pyStrip(t);
        return s.includes('\n') && qaMatch(s.split('\n')[0], target, '\u0000', p.record.options, '\u0000');
      };
    case 'code':
      return task.name === 'humaneval' ? (t) => humanevalPost(t) !== t : undefined;
    default:
      return undefined;
  }
}

async function scoreGen(
  model: EvalModel,
  tok: Tokenizer,
  task: UeTask,
  p: UePrompt,
  o: UeRunOptions,
): Promise<ItemRecord['gen']> {
  const text = o.chat ? `<用户>${p.prompt}<AI>` : p.prompt;
  const ids = [tok.bosId, ...tok.encode(text)].filter((x) => x >= 0);
  const output = await complete(model, tok, ids, {
    temperature: task.sampling.temperature,
    topP: task.sampling.topP,
    maxNewTokens: task.sampling.maxTokens,
    stop: [],
    seed: o.seed,
    decided: decider(task, p),
  });
  const processed = task.post(output);
  const r = p.record;
  switch (task.metric) {
    case 'prefix':
      return { correct: prefixMatch(processed, p.targets[0]), output, extracted: processed };
    case 'qa': {
      const answer = r.options[r.scores.indexOf(1)];
      return {
        correct: qaMatch(processed, p.targets[0], r.context ?? r.question, r.options, answer),
        output,
        extracted: processed,
      };
    }
    case 'exact':
      return { correct: exactMatch(processed, p.targets), output, extracted: processed };
    case 'in':
      return { correct: inMatch(processed, p.targets), output, extracted: processed };
    case 'code': {
      const run = runPython(codeProgram(r, processed));
      return { correct: run.passed, output, extracted: run.status };
    }
  }
}

/** Longest common prefix of the options' full token sequences, leaving every option at least one token. */
function sharedPrefix(seqs: readonly number[][]): number {
  let n = Math.min(...seqs.map((s) => s.length)) - 1;
  for (let i = 0; i < n; i++)
    if (seqs.some((s) => s[i] !== seqs[0][i])) {
      n = i;
      break;
    }
  return n;
}

async function scorePpl(
  model: EvalModel,
  tok: Tokenizer,
  task: UeTask,
  p: UePrompt,
): Promise<ItemRecord['ppl']> {
  const seqs = p.record.options.map((opt) =>
    [tok.bosId, ...tok.encode(p.prompt + opt)].filter((x) => x >= 0),
  );
  const n = sharedPrefix(seqs);
  const scores = await optionLogProbs(
    model,
    seqs[0].slice(0, n),
    seqs.map((s) => s.slice(n)),
  );
  const value = scores.map((s) => (task.ppl?.reduce === 'mean' ? s.mean : s.sum));
  let pick = 0;
  for (let i = 1; i < value.length; i++) if (value[i] > value[pick]) pick = i;
  return { correct: p.record.scores[pick] === 1, pick };
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

export function subjectScore(records: readonly ItemRecord[], mode: UeMode): ModeScore {
  const subjects: ModeScore['subjects'] = {};
  for (const r of records) {
    const m = r[mode];
    if (!m) continue;
    const s = (subjects[r.subject] ??= { n: 0, accuracy: 0 });
    s.n++;
    s.accuracy += m.correct ? 1 : 0;
  }
  for (const s of Object.values(subjects)) s.accuracy /= s.n;
  const accs = Object.values(subjects).map((s) => s.accuracy);
  return { score: accs.reduce((a, b) => a + b, 0) / Math.max(1, accs.length), subjects };
}

export async function runUltraEvalTask(
  model: EvalModel,
  tok: Tokenizer,
  task: UeTask,
  subjects: readonly UeSubject[],
  o: UeRunOptions,
): Promise<TaskResult> {
  const prompts = ultraEvalPrompts(task, subjects, o);
  if (!prompts.length) throw new EvalError(`task ${task.name} has no items to score`);
  const done = readRecords(o.recordsFile);
  const records: ItemRecord[] = [];
  for (const [i, p] of prompts.entries()) {
    const id = itemId(task.name, p);
    let rec = done.get(id);
    if (!rec?.[o.mode]) {
      rec = { id, subject: p.record.subject };
      if (o.mode === 'ppl') rec.ppl = await scorePpl(model, tok, task, p);
      else rec.gen = await scoreGen(model, tok, task, p, o);
      if (o.recordsFile) fs.appendFileSync(o.recordsFile, JSON.stringify(rec) + '\n');
    }
    records.push(rec);
    o.onItem?.(i + 1, prompts.length);
  }
  const score = subjectScore(records, o.mode);
  return {
    task: task.name,
    items: prompts.length,
    shots: o.shots ?? task.shots,
    ...(o.mode === 'ppl' ? { ppl: score } : { gen: score }),
    score: score.score,
  };
}
