/**
 * Held-out answer accuracy of a MiniCPM-V on question–answer records with images: each prompt (the
 * conversation up to its last user turn, plus `<AI>`) is decoded greedily, and the answer counts as right
 * when the decoded text, trimmed, equals the reference answer exactly. Rows are decoded together, padded
 * on the right: with causal attention a row's logits at its own last position do not see the padding.
 */
import type { MiniCPMV } from '../models/minicpmv.js';
import { concat, noGrad, reshape, scope, slice, Tensor } from '../tensor/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { AlignError } from './errors.js';
import type { ImageStore } from './vlm-train.js';
import { renderImageChat, type ImageConversation } from './vlm-examples.js';

export interface AnswerResult {
  /** The reference answer (the record's last assistant message). */
  answer: string;
  predicted: string;
  correct: boolean;
}

/**
 * Greedy answers for `records` (each ending with the reference assistant answer); `imageIndex(r, k)`
 * gives the store index of record r's k-th image.
 */
export function greedyAnswers(
  vlm: MiniCPMV,
  tok: Tokenizer,
  store: ImageStore,
  records: readonly ImageConversation[],
  imageIndex: (record: number, k: number) => number,
  o: { maxNewTokens?: number; batchSize?: number } = {},
): AnswerResult[] {
  const maxNew = o.maxNewTokens ?? 6;
  const B = o.batchSize ?? 16;
  const Q = vlm.config.queryNum;
  const out: AnswerResult[] = [];
  for (let at = 0; at < records.length; at += B) {
    const group = records.slice(at, at + B);
    const rows = group.map((r) => {
      const last = r.messages[r.messages.length - 1];
      if (last.role !== 'assistant')
        throw new AlignError('an evaluation record must end with its reference answer');
      return renderImageChat(tok, r.messages.slice(0, -1), Q, { addGenerationPrompt: true }).ids;
    });
    const generated: number[][] = rows.map(() => []);
    const done = rows.map(() => false);
    noGrad(() => {
      const images = group.map((r, g) =>
        r.images.map((_, k) => store.tokens(vlm, imageIndex(at + g, k)).keep()),
      );
      for (let step = 0; step < maxNew && done.some((d) => !d); step++) {
        const next = scope(() => {
          const lens = rows.map((r, g) => r.length + generated[g].length);
          const T = Math.max(...lens);
          const ids = new Int32Array(rows.length * T).fill(tok.eosId >= 0 ? tok.eosId : 0);
          rows.forEach((r, g) => {
            ids.set(r, g * T);
            ids.set(generated[g], g * T + r.length);
          });
          const h = vlm.llm.withImages(images).hidden(Tensor.from(ids, [rows.length, T], 'i32'));
          const E = h.shape[2];
          const lastRows = lens.map((n, g) => reshape(slice(slice(h, 0, g, g + 1), 1, n - 1, n), [1, E]));
          const logits = vlm.llm.logitsFromHidden(concat(lastRows, 0));
          const V = logits.shape[logits.shape.length - 1];
          const data = logits.toArray();
          return lens.map((_, g) => {
            let best = 0;
            for (let v = 1; v < V; v++) if (data[g * V + v] > data[g * V + best]) best = v;
            return best;
          });
        });
        next.forEach((id, g) => {
          if (done[g]) return;
          if (id === tok.eosId) done[g] = true;
          else generated[g].push(id);
        });
      }
      for (const row of images) for (const t of row) t.dispose();
    });
    group.forEach((r, g) => {
      const answer = r.messages[r.messages.length - 1].content.trim();
      const predicted = tok.decode(generated[g]).trim();
      out.push({ answer, predicted, correct: predicted === answer });
    });
  }
  return out;
}

export interface KindAccuracy {
  kind: string;
  questions: number;
  accuracy: number;
  chance: number;
  majority: number;
}

/**
 * Accuracy per question kind (and 'all'), with two baselines: a uniform guess among the kind's answers
 * (chance = 1/|answers|) and always answering the kind's most frequent training answer.
 */
export function accuracyByKind(
  results: readonly AnswerResult[],
  kinds: readonly string[],
  answerSets: Readonly<Record<string, readonly string[]>>,
  trainCounts: Readonly<Record<string, Readonly<Record<string, number>>>>,
): KindAccuracy[] {
  const majorityOf = (k: string) =>
    Object.entries(trainCounts[k] ?? {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
  const rows = new Map<string, { n: number; right: number; chance: number; majority: number }>();
  results.forEach((r, i) => {
    const k = kinds[i];
    const set = answerSets[k];
    if (!set) throw new AlignError(`question kind "${k}" has no answer set`);
    for (const key of [k, 'all']) {
      const row = rows.get(key) ?? { n: 0, right: 0, chance: 0, majority: 0 };
      row.n++;
      row.right += r.correct ? 1 : 0;
      row.chance += 1 / set.length;
      row.majority += majorityOf(k) === r.answer ? 1 : 0;
      rows.set(key, row);
    }
  });
  // kinds in name order, the overall row last
  const order = [...rows.keys()].filter((k) => k !== 'all').sort();
  return [...order, 'all']
    .map((kind) => [kind, rows.get(kind)!] as const)
    .map(([kind, r]) => ({
      kind,
      questions: r.n,
      accuracy: r.right / r.n,
      chance: r.chance / r.n,
      majority: r.majority / r.n,
    }));
}
