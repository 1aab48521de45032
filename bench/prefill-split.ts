/**
 * Where a prefill's time goes: the decoder projections, attention (the KV-cache append included), the
 * head (last position only) and the rest (embedding, norms, RoPE, SwiGLU, residuals, buffer traffic).
 * Kernels run synchronously, so stamps around the calls split the forward exactly; the wrappers below
 * only observe (they delegate to the model's own runner or its parameters). Each part is kept as wall
 * time and as the process's CPU time (all threads): on a shared machine the CPU time moves much less
 * with the other tenants' load, which makes it the steadier figure for comparing two builds.
 *
 * `ops`, when given, gathers the wall time of every backend op the forward calls (norms, RoPE, SwiGLU,
 * residuals, casts, attention, f32/bf16 GEMMs; the quantized linears' kernels are not backend ops), seen
 * through a proxy of the installed backend, so that `rest` can be taken apart op by op:
 * `npm run bench -- prefill-split [--dtype f32|bf16|w4|w8] [--layers 4] [--prompt 512] [--passes 3]`
 * prints that table for the prefill bench's model (bench/prefill.ts) with a bf16 KV cache.
 */
import { useBackend } from '../src/backends/index.js';
import { KVCache, type KVCacheDtype } from '../src/models/kv-cache.js';
import { MiniCPM, PROJ, type LinearRunner } from '../src/models/minicpm.js';
import { QuantizedLinears } from '../src/quant/qlinear.js';
import type { QWeight } from '../src/quant/qweight.js';
import { quantizeToQWeight } from '../src/quant/qweight-quantize.js';
import {
  getBackend,
  linears,
  noGrad,
  Rng,
  scope,
  setBackend,
  slice,
  Tensor,
  type AttentionArgs,
  type Backend,
} from '../src/tensor/index.js';
import { bf16Copy } from './infer/decoders.js';
import { minicpm2bShape } from './infer/shape.js';
import { median } from './lib/machine.js';

export interface Split {
  total_s: number;
  projections_s: number;
  attention_s: number;
  head_s: number;
  rest_s: number;
  /** The same parts in CPU seconds of the whole process (both pool threads, and any spinning). */
  cpu: { total_s: number; projections_s: number; attention_s: number; head_s: number; rest_s: number };
}

/** Wall seconds and calls of each backend op (binary and scalar ops by operator, e.g. `scalar:mul`). */
export type OpTimes = Record<string, { s: number; calls: number }>;

/** The installed backend wrapped so that each method call's wall time is added to `ops` by name. */
function timedBackend(inner: Backend, ops: OpTimes): Backend {
  return new Proxy(inner, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          const op = typeof args[0] === 'string' ? `${String(key)}:${args[0]}` : String(key);
          const e = (ops[op] ??= { s: 0, calls: 0 });
          e.s += (performance.now() - t0) / 1000;
          e.calls++;
        }
      };
    },
  });
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

/**
 * One prefill of `prompt` into a fresh cache, as generate runs it, split by where the time went; with
 * `ops`, each backend op's wall time is added to it.
 */
export function timedPrefill(model: MiniCPM, prompt: Int32Array, kv: KVCacheDtype, ops?: OpTimes): Split {
  const c = model.config;
  const T = prompt.length;
  const cache = new TimedCache(c.numLayers, 1, c.numKvHeads, c.headDim, T + 8, kv);
  const inner = model.linearRunner;
  const [proj, head, total] = [new Clock(), new Clock(), new Clock()];
  model.linearRunner = timedRunner(model, inner, proj);
  const backend = getBackend();
  if (ops) setBackend(timedBackend(backend, ops));
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
    setBackend(backend);
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

/** The prefill bench's model (2B-wide, vocabulary 8192) in `dt`: W4/W8 are RTN g32 projections. */
function model(layers: number, dt: string): MiniCPM {
  const base = noGrad(() => MiniCPM.init(minicpm2bShape(layers, { vocab_size: 8192 }), new Rng(7)));
  if (dt === 'f32') return base;
  if (dt === 'bf16') return bf16Copy(base);
  if (dt !== 'w4' && dt !== 'w8') throw new Error(`--dtype: unknown dtype ${dt} (f32, bf16, w4, w8)`);
  const isProj = (n: string) => PROJ.some((p) => n.endsWith(`${p}.weight`));
  const weights = new Map<string, QWeight>();
  for (const [n, t] of base.params)
    if (isProj(n))
      weights.set(
        n.slice(0, -'.weight'.length),
        quantizeToQWeight(t.data as Float32Array, t.shape[0], t.shape[1], dt === 'w4' ? 4 : 8),
      );
  const m = new MiniCPM(base.config, new Map([...base.params].filter(([n]) => !isProj(n))));
  m.linearRunner = new QuantizedLinears(weights, (mod) => m.p(`${mod}.weight`));
  return m;
}

/** `npm run bench -- prefill-split`: the parts of a prefill and its backend ops, medians over the passes. */
export default function prefillSplit(args: string[]): void {
  const opt = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const [dt, layers, T, passes] = [
    opt('dtype', 'w4'),
    +opt('layers', '4'),
    +opt('prompt', '512'),
    +opt('passes', '3'),
  ];
  useBackend('auto');
  const m = model(layers, dt);
  let seed = 5;
  const prompt = Int32Array.from(
    { length: T },
    () => 3 + ((seed = (seed * 1103515245 + 12345) >>> 0) % 8000),
  );
  timedPrefill(m, prompt, 'bf16'); // warm: the pool, the kernels' scratch, the rope tables
  const runs = Array.from({ length: passes }, () => {
    const ops: OpTimes = {};
    return { split: timedPrefill(m, prompt, 'bf16', ops), ops };
  });
  const ms = (x: number) => `${(1000 * x).toFixed(1)} ms`;
  const part = (k: 'total_s' | 'projections_s' | 'attention_s' | 'head_s' | 'rest_s') =>
    `${ms(median(runs.map((r) => r.split[k])))} (CPU ${ms(median(runs.map((r) => r.split.cpu[k])))})`;
  console.log(
    `prefill ${T} ${dt}, ${layers} layers, bf16 KV cache: median of ${passes}, wall (CPU of the process)`,
  );
  for (const k of ['total_s', 'projections_s', 'attention_s', 'head_s', 'rest_s'] as const)
    console.log(`  ${k.replace('_s', '').padEnd(12)} ${part(k)}`);
  console.log('  backend ops (wall; projections and attention included where they are backend ops):');
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.ops)))];
  const rows = names.map((n) => ({
    n,
    s: median(runs.map((r) => r.ops[n]?.s ?? 0)),
    calls: runs[0].ops[n]?.calls ?? 0,
  }));
  for (const r of rows.sort((a, b) => b.s - a.s))
    console.log(`    ${r.n.padEnd(16)} ${ms(r.s).padStart(10)}  ${r.calls} calls`);
}
