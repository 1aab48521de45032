/**
 * Where a prefill's time goes: the decoder projections, attention (the KV-cache append included), the
 * head (last position only) and the rest (embedding, norms, RoPE, SwiGLU, residuals, buffer traffic).
 * Kernels run synchronously, so stamps around the calls split the forward exactly; the wrappers below
 * only observe (they delegate to the model's own runner or its parameters). Each part is kept as wall
 * time and as the process's CPU time (all threads): on a shared machine the CPU time moves much less
 * with the other tenants' load, which makes it the steadier figure for comparing two builds.
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
  /** The same parts in CPU seconds of the whole process (both pool threads, and any spinning). */
  cpu: { total_s: number; projections_s: number; attention_s: number; head_s: number; rest_s: number };
}

/** Wall and CPU seconds accumulated over the intervals it timed. */
class Clock {
  wall = 0;
  cpu = 0;

  time<R>(f: () => R): R {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      return f();
    } finally {
      this.wall += (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      this.cpu += (c.user + c.system) / 1e6;
    }
  }
}

/** A KV cache whose `attend` (append + attention) is timed. */
class TimedCache extends KVCache {
  readonly clock = new Clock();

  override attend(layer: number, q: Tensor, k: Tensor, v: Tensor, args: AttentionArgs): Tensor {
    return this.clock.time(() => super.attend(layer, q, k, v, args));
  }
}

/** The model's linears (its runner's, else its parameters) with the decoder projections timed. */
function timedRunner(model: MiniCPM, inner: LinearRunner | null, clock: Clock): LinearRunner {
  const runner: LinearRunner = {
    run(x, modules) {
      if (modules.length === 1 && modules[0] === 'lm_head') return inner?.run(x, modules) ?? null;
      return clock.time(
        () =>
          inner?.run(x, modules) ??
          linears(
            x,
            modules.map((m) => model.p(`${m}.weight`)),
          ),
      );
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
  const [proj, head, total] = [new Clock(), new Clock(), new Clock()];
  model.linearRunner = timedRunner(model, inner, proj);
  try {
    total.time(() =>
      noGrad(() =>
        scope(() => {
          const h = model.hidden(Tensor.from(prompt, [1, T], 'i32'), cache);
          return head.time(() => model.logitsFromHidden(slice(h, 1, T - 1, T)).toArray()[0]);
        }),
      ),
    );
  } finally {
    model.linearRunner = inner;
  }
  const attn = cache.clock;
  cache.dispose();
  const parts = (k: 'wall' | 'cpu') => ({
    total_s: total[k],
    projections_s: proj[k],
    attention_s: attn[k],
    head_s: head[k],
    rest_s: total[k] - proj[k] - attn[k] - head[k],
  });
  return { ...parts('wall'), cpu: parts('cpu') };
}
