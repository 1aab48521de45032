/**
 * Log-probabilities of tokens under the model's raw next-token distributions (before any sampling
 * stage), as OpenAI's `logprobs` report them: the chosen token's, and the `top` most likely.
 */
import { KVCache } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import { noGrad, scope, slice, Tensor } from '../tensor/index.js';
import { Candidates } from './candidates.js';

export interface TokenLogprob {
  id: number;
  logprob: number;
  /** The `top` most likely tokens, best first (empty when top = 0). */
  top: { id: number; logprob: number }[];
}

/** log Σ exp(row), in float64. */
export function logSumExp(row: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > m) m = row[i];
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - m);
  return m + Math.log(s);
}

/** The log-probability of `id` and the `top` best under softmax(row). */
export function tokenLogprob(row: Float32Array, id: number, top: number, cands?: Candidates): TokenLogprob {
  const lse = logSumExp(row);
  const out: TokenLogprob = { id, logprob: row[id] - lse, top: [] };
  if (top > 0) {
    const c = cands ?? new Candidates(row.length);
    c.load(row);
    const best = c.bestPositions(top);
    out.top = Array.from(best, (p) => ({ id: c.ids[p], logprob: c.logits[p] - lse }));
  }
  return out;
}

/**
 * Log-probabilities of every prompt token after the first, each given the tokens before it
 * (lm-evaluation-harness's loglikelihood through `echo`), computed `chunk` positions at a time.
 */
export function promptLogprobs(
  model: MiniCPM,
  ids: readonly number[],
  top: number,
  chunk = 64,
): TokenLogprob[] {
  const c = model.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, ids.length);
  const cands = new Candidates(c.vocabSize);
  const out: TokenLogprob[] = [];
  try {
    for (let at = 0; at < ids.length - 1; at += chunk) {
      const end = Math.min(ids.length - 1, at + chunk);
      const rows = noGrad(() =>
        scope(() => {
          const logits = model.forward(
            Tensor.from(Int32Array.from(ids.slice(at, end)), [1, end - at], 'i32'),
            cache,
          );
          const V = logits.shape[2];
          const f = (slice(logits, 1, 0, end - at).data as Float32Array).subarray(logits.offset);
          return Array.from({ length: end - at }, (_, t) => f.slice(t * V, (t + 1) * V));
        }),
      );
      rows.forEach((row, t) => out.push(tokenLogprob(row, ids[at + t + 1], top, cands)));
    }
  } finally {
    cache.dispose();
  }
  return out;
}
