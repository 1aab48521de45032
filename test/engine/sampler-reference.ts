/**
 * The naive twin of the sampler chain: float64, a full sort of the vocabulary, each stage written from
 * its definition (probabilities, not the logit-space shortcuts the fast stages take).
 */
import type { SamplerOptions } from '../../src/engine/sampler.js';

export function referenceDistribution(
  row: Float32Array,
  o: SamplerOptions,
  context: readonly number[] = [],
): { ids: number[]; probs: number[] } {
  const logits = Array.from(row, Number);
  const seen = new Map<number, number>();
  for (const id of context) seen.set(id, (seen.get(id) ?? 0) + 1);
  for (const [id, count] of seen) {
    const r = o.repetitionPenalty ?? 1;
    let l = Math.fround(logits[id]);
    if (r !== 1) l = l > 0 ? l / r : l * r;
    logits[id] = l - (o.frequencyPenalty ?? 0) * count - (o.presencePenalty ?? 0);
  }
  let order = logits.map((_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.greedy || o.temperature === 0) return { ids: [order[0]], probs: [1] };
  const t = o.temperature ?? 1;
  if (o.topK) order = order.slice(0, o.topK);
  const softmax = (ids: number[]) => {
    const m = logits[ids[0]] / t;
    const e = ids.map((i) => Math.exp(logits[i] / t - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  let p = softmax(order);
  if (o.topP !== undefined && o.topP < 1) {
    let acc = 0;
    let keep = order.length;
    for (let i = 0; i < order.length; i++) {
      acc += p[i];
      if (acc >= o.topP) {
        keep = i + 1;
        break;
      }
    }
    order = order.slice(0, keep);
    p = softmax(order);
  }
  if (o.minP) {
    const floor = p[0] * o.minP;
    const keep = p.filter((x) => x >= floor).length;
    order = order.slice(0, keep);
    p = softmax(order);
  }
  return { ids: order, probs: p };
}
