/**
 * `npm run bench -- kv-cache [--ctx 1024,4096] [--heads 36] [--kv-heads 36] [--head-dim 64] [--iters 30]`:
 * one decode step's attention (one query row against `ctx` cached positions, MiniCPM-2B's 36 heads of 64
 * by default) over an f32, a bf16 and an int8 KV cache, and the cache bytes per token of each. Decode
 * attention streams the whole cache once per layer per token, so its time should follow the bytes:
 * int8 reads 1 + 4/D bytes an element (scales included) against bf16's 2 and f32's 4.
 * Writes bench/results/kv-cache.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { useBackend } from '../src/backends/index.js';
import { loadNativeKernels } from '../src/backends/kernels-native.js';
import { KVCache, type KVCacheDtype } from '../src/models/kv-cache.js';
import { noGrad, Rng, scope, Tensor } from '../src/tensor/index.js';

const DTYPES: KVCacheDtype[] = ['f32', 'bf16', 'int8'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export default function run(args: string[]): void {
  const opt = (name: string, dflt: string): string => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const ctxs = opt('--ctx', '1024,4096').split(',').map(Number);
  const Hq = Number(opt('--heads', '36'));
  const Hkv = Number(opt('--kv-heads', '36'));
  const D = Number(opt('--head-dim', '64'));
  const iters = Number(opt('--iters', '30'));
  const backend = useBackend('auto');
  const threads = loadNativeKernels()?.getThreads() ?? 1;
  const rng = new Rng(3);
  const rand = (shape: number[]) =>
    Tensor.from(
      Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.normal()),
      shape,
    );
  console.log(
    `decode attention, ${Hq} query / ${Hkv} kv heads of ${D}, ${iters} steps each (median), ${backend.name}, ${threads} threads`,
  );
  const rows: Record<string, unknown>[] = [];
  for (const S of ctxs) {
    const f32ms: Record<string, number> = {};
    for (const dtype of DTYPES) {
      const cache = new KVCache(1, 1, Hkv, D, S + iters + 1, dtype);
      noGrad(() =>
        scope(() => {
          const kv = rand([1, S, Hkv, D]);
          cache.append(0, kv, kv);
        }),
      );
      cache.advance(S);
      const q = rand([1, 1, Hq, D]);
      const k1 = rand([1, 1, Hkv, D]);
      const times: number[] = [];
      for (let i = 0; i < iters + 3; i++) {
        const t0 = performance.now();
        noGrad(() => scope(() => void cache.attend(0, q, k1, k1, { causal: true, qOffset: cache.length })));
        if (i >= 3) times.push(performance.now() - t0); // the first calls warm the pool and scratch
        cache.advance(1);
      }
      const ms = median(times);
      f32ms[dtype] = ms;
      const bytes = cache.bytesPerToken * S; // one layer: keys, values (and int8 scales) of S positions
      rows.push({
        ctx: S,
        kv_cache: dtype,
        ms_per_step: ms,
        kv_bytes_per_token_per_layer: cache.bytesPerToken,
        streamed_GBps: bytes / (ms / 1000) / 1e9,
        vs_f32: f32ms.f32 / ms,
      });
      console.log(
        `  ctx ${String(S).padStart(5)} ${dtype.padEnd(4)} ${ms.toFixed(3).padStart(8)} ms  ` +
          `${cache.bytesPerToken} B/token/layer  ${(bytes / (ms / 1000) / 1e9).toFixed(1)} GB/s  ` +
          `${(f32ms.f32 / ms).toFixed(2)}x f32`,
      );
      cache.dispose();
    }
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/kv-cache.json',
    JSON.stringify({ backend: backend.name, threads, Hq, Hkv, D, iters, rows }, null, 2),
  );
}
