/**
 * Held-out instruction tasks for the decay-data study: the validation split of the built-in
 * instruction set (definitions, next lines of poems, authors, arithmetic — each with one correct and
 * three wrong answers). Three scores, as the evaluation harnesses use them: the answer's per-token loss
 * given the chat prompt, multiple-choice accuracy by the answers' mean log-likelihood (PPL mode), and
 * greedy exact match (the generated text starts with the answer).
 */
import fs from 'node:fs';
import path from 'node:path';
import { corpusDocsDir } from '../data/corpus/build-corpus.js';
import { generateAll } from '../engine/generate.js';
import type { MiniCPM } from '../models/minicpm.js';
import { noGrad, scope, Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { SandboxError } from './micro-model.js';

export interface InstructItem {
  kind: string;
  prompt: string;
  chosen: string;
  rejected: string[];
}

export interface TaskScores {
  n: number;
  answerLoss: number;
  choiceAccuracy: number;
  exactMatch: number;
  generated: number;
}

/** The first `max` validation items, interleaved across kinds so every kind is represented. */
export function readInstructItems(corpusDir: string, max: number): InstructItem[] {
  const file = path.join(corpusDocsDir(corpusDir), 'instruct.val.jsonl');
  if (!fs.existsSync(file))
    throw new SandboxError(`${file} is missing: run \`minicpm data corpus\` to build the built-in corpus`);
  const byKind = new Map<string, InstructItem[]>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const m = (JSON.parse(line) as { meta: InstructItem & { kind: string } }).meta;
    if (!m?.prompt || !m.chosen) continue;
    const list = byKind.get(m.kind) ?? [];
    list.push({ kind: m.kind, prompt: m.prompt, chosen: m.chosen, rejected: m.rejected ?? [] });
    byKind.set(m.kind, list);
  }
  const out: InstructItem[] = [];
  const lists = [...byKind.values()];
  for (let i = 0; out.length < max && lists.some((l) => i < l.length); i++)
    for (const l of lists) if (i < l.length && out.length < max) out.push(l[i]);
  return out;
}

/** Summed and mean log-probability of `answer` ids after `prompt` ids. */
function answerLogProb(model: MiniCPM, prompt: number[], answer: number[]): { sum: number; mean: number } {
  const ids = [...prompt, ...answer];
  return noGrad(() =>
    scope(() => {
      const logits = model.forward(Tensor.from(ids.slice(0, -1), [1, ids.length - 1], 'i32'));
      const V = model.config.vocabSize;
      const flat = logits.isContiguous() ? logits : logits.contiguousCopy();
      const data = (flat.data as Float32Array).subarray(flat.offset);
      let sum = 0;
      for (let j = 0; j < answer.length; j++) {
        const row = (prompt.length - 1 + j) * V;
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, data[row + v]);
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(data[row + v] - max);
        sum += data[row + answer[j]] - max - Math.log(z);
      }
      return { sum, mean: sum / answer.length };
    }),
  );
}

export async function evaluateInstructions(
  model: MiniCPM,
  tok: Tokenizer,
  items: InstructItem[],
  generateItems: number,
): Promise<Record<string, TaskScores>> {
  const acc = new Map<string, { n: number; loss: number; right: number; em: number; gen: number }>();
  for (const [i, it] of items.entries()) {
    const prompt = [tok.bosId, ...tok.encode(`<用户>${it.prompt}<AI>`)];
    const score = (text: string): { sum: number; mean: number } =>
      answerLogProb(model, prompt, tok.encode(text));
    const right = score(it.chosen);
    const wrong = it.rejected.map(score);
    const a = acc.get(it.kind) ?? { n: 0, loss: 0, right: 0, em: 0, gen: 0 };
    a.n++;
    a.loss += -right.mean;
    if (wrong.every((w) => right.mean > w.mean)) a.right++;
    if (i < generateItems) {
      const answer = tok.encode(it.chosen);
      const [out] = await generateAll(model, [prompt], {
        maxNewTokens: answer.length + 2,
        greedy: true,
        stopIds: [tok.eosId],
      });
      const text = tok.decode(out.filter((id) => id !== tok.eosId)).trim();
      a.gen++;
      if (text.startsWith(it.chosen.trim())) a.em++;
    }
    acc.set(it.kind, a);
  }
  const out: Record<string, TaskScores> = {};
  const all = { n: 0, loss: 0, right: 0, em: 0, gen: 0 };
  for (const [kind, a] of acc) {
    out[kind] = {
      n: a.n,
      answerLoss: a.loss / a.n,
      choiceAccuracy: a.right / a.n,
      exactMatch: a.gen ? a.em / a.gen : NaN,
      generated: a.gen,
    };
    for (const k of ['n', 'loss', 'right', 'em', 'gen'] as const) all[k] += a[k];
  }
  out.all = {
    n: all.n,
    answerLoss: all.loss / all.n,
    choiceAccuracy: all.right / all.n,
    exactMatch: all.gen ? all.em / all.gen : NaN,
    generated: all.gen,
  };
  return out;
}
