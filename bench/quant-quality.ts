/**
 * Quality cost of the quantized inference options, on held-out text:
 *
 *   npm run bench -- quant-quality --base FLOAT_DIR --gptq GPTQ_DIR --text FILE [--ctx 256] [--windows 16]
 *
 * Rows: the float model; the GPTQ folder dequantized to f32 (what the 4-bit weights alone cost); the same
 * folder on the int4 kernels (adds int8 activations per 32); each of those with --head-dtype int8; the float
 * model with an int8 head. Per row: perplexity over non-overlapping windows of `--ctx` tokens (every
 * position scored), mean KL(base ‖ row) of the next-token distributions and top-1 agreement with the base.
 * Writes bench/results/quant-quality.json. Tiny models are more fragile than a 2B one: read the deltas as
 * an upper bound of what MiniCPM-2B would lose.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/backends/index.js';
import { loadModel } from '../src/models/load.js';
import type { MiniCPM } from '../src/models/minicpm.js';
import { useInt8Head } from '../src/quant/int8-head.js';
import { loadAnyModel } from '../src/quant/index.js';
import { noGrad, Tensor } from '../src/tensor/index.js';
import { loadTokenizer } from '../src/tokenizer/load.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Log-probabilities [T, V] of one window, in f64. */
function logProbs(m: MiniCPM, ids: number[]): Float64Array[] {
  const logits = noGrad(() => m.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')).toArray());
  const V = m.config.vocabSize;
  return ids.map((_, t) => {
    const row = Float64Array.from(logits.slice(t * V, (t + 1) * V));
    const max = Math.max(...row);
    let z = 0;
    for (const v of row) z += Math.exp(v - max);
    const lz = max + Math.log(z);
    return row.map((v) => v - lz);
  });
}

export default async function quantQuality(args: string[]): Promise<void> {
  const base = opt(args, 'base');
  const gptq = opt(args, 'gptq');
  const text = opt(args, 'text');
  if (!base || !gptq || !text) throw new Error('usage: quant-quality --base DIR --gptq DIR --text FILE');
  const ctx = Number(opt(args, 'ctx') ?? 256);
  const windows = Number(opt(args, 'windows') ?? 16);
  useBackend('auto');
  const tok = loadTokenizer(opt(args, 'tokenizer') ?? base).tokenizer;
  const ids = tok.encode(readFileSync(text, 'utf8'));
  const wins = Array.from({ length: Math.min(windows, Math.floor(ids.length / ctx)) }, (_, i) =>
    ids.slice(i * ctx, (i + 1) * ctx),
  );
  const models: [string, () => Promise<MiniCPM>][] = [
    ['f32', () => loadModel(base)],
    ['f32 + int8 head', async () => withHead(await loadModel(base))],
    ['W4 GPTQ dequantized (f32)', () => loadAnyModel(gptq, { dequantize: true })],
    ['W4 GPTQ on the int4 kernels', () => loadAnyModel(gptq)],
    ['W4 GPTQ on the int4 kernels + int8 head', async () => withHead(await loadAnyModel(gptq))],
  ];
  const ref = await loadModel(base);
  const refLp = wins.map((w) => logProbs(ref, w));
  const rows = [];
  for (const [name, load] of models) {
    const m = await load();
    let nll = 0;
    let kl = 0;
    let same = 0;
    let n = 0;
    wins.forEach((w, i) => {
      const lp = logProbs(m, w);
      for (let t = 0; t + 1 < w.length; t++) {
        nll -= lp[t][w[t + 1]];
        const p = refLp[i][t];
        let k = 0;
        for (let v = 0; v < p.length; v++) k += Math.exp(p[v]) * (p[v] - lp[t][v]);
        kl += k;
        same += argmax(lp[t]) === argmax(p) ? 1 : 0;
        n++;
      }
    });
    const row = { name, ppl: Math.exp(nll / n), kld: kl / n, top1: same / n, positions: n };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  const out = path.join(here, 'results', 'quant-quality.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify({ base, gptq, text, ctx, date: new Date().toISOString(), rows }, null, 2) + '\n',
  );
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

function withHead(m: MiniCPM): MiniCPM {
  useInt8Head(m);
  return m;
}

function argmax(a: Float64Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}
