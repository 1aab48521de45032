/**
 * PPL-mode scoring: the log-likelihood of each option after a shared prompt. The prompt is run once into
 * a KV cache; each option then costs only its own tokens, and the cache is rewound between options.
 */
import { KVCache } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import { logSoftmax, noGrad, scope, Tensor } from '../tensor/index.js';
import { EvalError } from './errors.js';

export interface OptionScore {
  /** Σ log p(option tokens | prompt). */
  sum: number;
  /** sum / tokens: what continuation tasks (HellaSwag) compare. */
  mean: number;
  tokens: number;
}

/** Log-softmax of the last row of logits [1, T, V], as numbers. */
function lastLogProbs(logits: Tensor): Float32Array {
  const [, T, V] = logits.shape;
  const lp = logSoftmax(logits);
  const data = (lp.isContiguous() ? lp : lp.contiguousCopy()).data as Float32Array;
  return data.slice(lp.offset + (T - 1) * V, lp.offset + T * V);
}

export function optionLogProbs(
  model: MiniCPM,
  prompt: readonly number[],
  options: readonly (readonly number[])[],
): OptionScore[] {
  if (!prompt.length) throw new EvalError('a prompt needs at least one token');
  const c = model.config;
  const longest = Math.max(...options.map((o) => o.length));
  if (options.some((o) => o.length === 0)) throw new EvalError('an option tokenized to nothing');
  // capacity rounded up so that caches of similar prompts share pooled buffers
  const capacity = Math.ceil((prompt.length + longest + 1) / 256) * 256;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, capacity, model.kvCacheDtype);
  try {
    return noGrad(() => {
      const first = scope(() =>
        lastLogProbs(model.forward(Tensor.from(Int32Array.from(prompt), [1, prompt.length], 'i32'), cache)),
      );
      return options.map((opt) => {
        let sum = first[opt[0]];
        if (opt.length > 1) {
          sum += scope(() => {
            // option tokens 0..n−2 predict tokens 1..n−1
            const logits = model.forward(
              Tensor.from(Int32Array.from(opt.slice(0, -1)), [1, opt.length - 1], 'i32'),
              cache,
            );
            const lp = logSoftmax(logits);
            const data = (lp.isContiguous() ? lp : lp.contiguousCopy()).data as Float32Array;
            const V = c.vocabSize;
            let s = 0;
            for (let t = 1; t < opt.length; t++) s += data[lp.offset + (t - 1) * V + opt[t]];
            return s;
          });
          cache.truncate(prompt.length);
        }
        return { sum, mean: sum / opt.length, tokens: opt.length };
      });
    });
  } finally {
    cache.dispose();
  }
}
