/**
 * Where a prefill's time goes: the decoder projections, attention (the KV-cache append included), the
 * head (last position only) and the rest (embedding, norms, RoPE, SwiGLU, residuals, buffer traffic).
 * Kernels run synchronously, so wall-clock stamps around the calls split the forward exactly; the
 * wrappers below only observe (they delegate to the model's own runner or its parameters).
 */
import { KVCache, type KVCacheDtype } from '../src/models/kv-cache.js';
import type { LinearRunner, MiniCPM } from '../src/models/minicpm.js';
import { linears, noGrad, scope, slice, Tensor, type AttentionArgs } from '../src/tensor/index.js';

export interface Split {
  total_s: number;
  projections_s: number;
  attention_s: number;
  head_s: number;
  rest_s: number;
}

/** A KV cache whose `attend` (append + attention) is timed. */
class TimedCache extends KVCache {
  seconds = 0;

  override attend(layer: number, q: Tensor, k: Tensor, v: Tensor, args: AttentionArgs): Tensor {
    const t0 = performance.now();
    const out = super.attend(layer, q, k, v, args);
    this.seconds += (performance.now() - t0) / 1000;
    return out;
  }
}

/** The model's linears (its runner's, else its parameters) with the decoder projections timed. */
function timedRunner(model: MiniCPM, inner: LinearRunner | null, clock: { s: number }): LinearRunner {
  const runner: LinearRunner = {
    run(x, modules) {
      if (modules.length === 1 && modules[0] === 'lm_head') return inner?.run(x, modules) ?? null;
      const t0 = performance.now();
      const ys =
        inner?.run(x, modules) ??
        linears(
          x,
          modules.map((m) => model.p(`${m}.weight`)),
        );
      clock.s += (performance.now() - t0) / 1000;
      return ys;
    },
  };
  const embed = inner?.embed?.bind(inner);
  return embed ? { ...runner, embed } : runner;
}

/** One prefill of `prompt` into a fresh cache, as generate runs it, split by where the time went. */
export function timedPrefill(model: MiniCPM, prompt: Int32Array, kv: KVCacheDtype): Split {
  const c = model.config;
  const T = prompt.length;
  const cache = new TimedCache(c.numLayers, 1, c.numKvHeads, c.headDim, T + 8, kv);
  const inner = model.linearRunner;
  const proj = { s: 0 };
  let head = 0;
  model.linearRunner = timedRunner(model, inner, proj);
  const t0 = performance.now();
  try {
    noGrad(() =>
      scope(() => {
        const h = model.hidden(Tensor.from(prompt, [1, T], 'i32'), cache);
        const t1 = performance.now();
        const top = model.logitsFromHidden(slice(h, 1, T - 1, T)).toArray()[0];
        head = (performance.now() - t1) / 1000;
        return top;
      }),
    );
  } finally {
    model.linearRunner = inner;
  }
  const total = (performance.now() - t0) / 1000;
  const attention = cache.seconds;
  cache.dispose();
  return {
    total_s: total,
    projections_s: proj.s,
    attention_s: attention,
    head_s: head,
    rest_s: total - proj.s - attention - head,
  };
}
