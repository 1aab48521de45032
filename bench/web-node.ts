/**
 * The browser engine's wasm backend against the native one in one Node process, on the same model and
 * weights: the demo model (`npm start`'s latest checkpoint, or --demo DIR) as f32 safetensors and as its
 * Q4_0 GGUF export. Greedy decode tokens/s (--decode steps after a --prompt of random ids) per backend
 * and thread count, interleaved (native then wasm at each count, --runs times, best kept), and the ratio
 * wasm/native: `npm run bench -- web`'s target (wasm decode >= 40% of native) without Chromium, its page
 * and its workers' messaging — what is left is the kernels and the engine's per-token work, in the same
 * V8 that Chromium runs.
 *
 *   npm run bench -- web-node [--demo DIR] [--dtypes f32,q4_0] [--threads 1,2] [--prompt 32] [--decode 32] [--runs 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useBackend, wasmKernels } from '../src/backends/index.js';
import { loadNativeKernels } from '../src/backends/kernels-native.js';
import { generate } from '../src/engine/generate.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { loadModel } from '../src/models/load.js';
import type { MiniCPM } from '../src/models/minicpm.js';
import { loadGgufModel } from '../src/quant/ggml-model.js';
import { Rng } from '../src/tensor/index.js';
import { syntheticGgufVocab } from '../src/tokenizer/gguf-export.js';
import { latestDemo } from './lib/demo-checkpoint.js';

/** Decode tokens/s of one greedy run (the first step, which is the prefill, not counted). */
async function decodeSpeed(model: MiniCPM, prompt: number[], decode: number): Promise<number> {
  let t1 = 0;
  for await (const s of generate(model, [prompt], { greedy: true, maxNewTokens: decode, stopIds: [] }))
    if (s.step === 0) t1 = performance.now();
  return (decode - 1) / ((performance.now() - t1) / 1000);
}

export default async function main(args: string[]): Promise<void> {
  const get = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const demo = get('demo', '') || latestDemo();
  if (!demo) throw new Error('no demo model under runs/demo: run `npm start` first, or pass --demo DIR');
  const dtypes = get('dtypes', 'f32,q4_0').split(',');
  const threads = get('threads', '1,2').split(',').map(Number);
  const promptLen = Number(get('prompt', '32')),
    decode = Number(get('decode', '32')),
    runs = Number(get('runs', '2'));
  const nk = loadNativeKernels();
  if (!nk) throw new Error('the native addon is not built: npm run build-native');
  const wk = wasmKernels();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'minicpm-web-node-'));
  try {
    useBackend('native');
    const base = await loadModel(demo);
    const rng = new Rng(5);
    const prompt = Array.from(
      { length: promptLen },
      () => 3 + Math.floor(rng.uniform() * (base.config.vocabSize - 3)),
    );
    for (const dtype of dtypes) {
      const gguf = path.join(tmp, `${dtype}.gguf`);
      if (dtype !== 'f32')
        await exportModelToGguf(base, gguf, {
          dtype: dtype as 'q4_0',
          tokenizer: syntheticGgufVocab(base.config.vocabSize),
          name: 'bench',
        });
      const load = () => (dtype === 'f32' ? loadModel(demo) : loadGgufModel(gguf, {}, () => {}));
      useBackend('native');
      const native = await load();
      useBackend('wasm');
      const wasm = await load();
      for (const t of threads) {
        nk.setThreads(t);
        wk.setThreads(t);
        for (let w = 0; w < 200 && wk.rt.workersOnline() < t - 1; w++)
          await new Promise((r) => setTimeout(r, 25));
        let n = 0,
          m = 0;
        for (let r = 0; r <= runs; r++) {
          // run 0 warms up
          useBackend('native');
          const a = await decodeSpeed(native, prompt, decode);
          useBackend('wasm');
          const b = await decodeSpeed(wasm, prompt, decode);
          if (r > 0) {
            n = Math.max(n, a);
            m = Math.max(m, b);
          }
        }
        console.log(
          `demo ${dtype.padEnd(4)} t=${t}: native ${n.toFixed(1)} tok/s, wasm ${m.toFixed(1)} tok/s: wasm/native ${(m / n).toFixed(2)}`,
        );
      }
    }
  } finally {
    useBackend('auto');
    nk.setThreads(2);
    wk.setThreads(2);
    rmSync(tmp, { recursive: true, force: true });
  }
}
