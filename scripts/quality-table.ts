/**
 * The quantization quality table of the README: one model in every stored precision the engine runs,
 * each scored with llama-perplexity's protocol (eval/perplexity) on held-out tokens against the f32
 * model: perplexity, mean KL divergence and top-1 agreement.
 *
 *   node --import tsx scripts/quality-table.ts --model runs/demo/decay/checkpoints/step-00000610 \
 *     --shards runs/demo/shards --work /tmp/quality [--ctx 256] [--tokens 32768] [--calibration 64]
 *
 * Held-out text: the val split of every source in the shard folder (the documents training never saw),
 * an equal share of --tokens from each, concatenated. GPTQ calibrates on --calibration windows of --ctx
 * tokens spread over the train split. Every variant is written to --work and loaded back the way the
 * commands load it (loadAnyModel: GPTQ folders on the int4/int8 kernels, GGUF Q4_0/Q8_0 likewise).
 * Rows: f32, bf16, W8 and W4 GPTQ g32 act-order, W4 RTN g32, int8 head, Q8_0, Q4_0, int8 KV (f32
 * weights, each window prefilled through an int8 cache: with one scale per position and head, a
 * position's stored keys/values do not depend on when it was appended, so this is what decoding reads).
 * `--rows f32,"int8 KV"` runs only the named rows (f32 is always run: it is the reference).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/backends/index.js';
import { readShard, readShardIndex } from '../src/data/shards/format.js';
import { perplexity, type PerplexityResult } from '../src/eval/perplexity.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { useInt8Head } from '../src/quant/int8-head.js';
import type { KVCacheDtype } from '../src/models/kv-cache.js';
import { loadModel } from '../src/models/load.js';
import { LINEAR_GROUPS, type MiniCPM } from '../src/models/minicpm.js';
import {
  loadAnyModel,
  matrixFromTensor,
  packAutoGptq,
  quantizeConfigFor,
  quantizeModel,
  rtnQuantize,
  saveQuantizedModel,
  type PackedLinear,
} from '../src/quant/index.js';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    shards: { type: 'string' },
    work: { type: 'string' },
    ctx: { type: 'string', default: '256' },
    tokens: { type: 'string', default: '32768' },
    calibration: { type: 'string', default: '64' },
    rows: { type: 'string' },
  },
});
if (!a.model || !a.shards || !a.work) {
  console.error(
    'usage: quality-table.ts --model DIR --shards DIR --work DIR [--ctx N] [--tokens N] [--calibration N]',
  );
  process.exit(2);
}
useBackend('auto');
const ctx = Number(a.ctx);
const work = path.resolve(a.work);
fs.mkdirSync(work, { recursive: true });
const log = (s: string) => process.stderr.write(`${s}\n`);

/** An equal share of `total` tokens from each source's `split`, concatenated. */
function splitTokens(dir: string, split: 'train' | 'val', total: number): number[] {
  const idx = readShardIndex(dir);
  const sources = Object.values(idx.sources).filter((s) => s[split].tokens > 0);
  const share = Math.floor(total / sources.length);
  const out: number[] = [];
  for (const s of sources) {
    const ids: number[] = [];
    for (const sh of s[split].shards) {
      if (ids.length >= share) break;
      ids.push(...readShard(dir, idx, sh).subarray(0, share - ids.length));
    }
    out.push(...ids);
  }
  return out;
}

/** `n` windows of `len` tokens spread evenly over the train split. */
function calibrationWindows(dir: string, n: number, len: number): number[][] {
  const toks = splitTokens(dir, 'train', Math.max(n * len * 8, 1 << 20));
  const stride = Math.floor((toks.length - len) / n);
  return Array.from({ length: n }, (_, i) => toks.slice(i * stride, i * stride + len));
}

/** Round-to-nearest of every decoder linear, as an AutoGPTQ folder (what `minicpm quantize` would write). */
function rtnModel(model: MiniCPM, bits: number, groupSize: number) {
  const packed = new Map<string, PackedLinear>();
  for (let l = 0; l < model.config.numLayers; l++)
    for (const mod of Object.values(LINEAR_GROUPS).flat()) {
      const name = `model.layers.${l}.${mod}`;
      const ql = rtnQuantize(matrixFromTensor(model.p(`${name}.weight`)), {
        bits,
        groupSize,
        storableZeros: true,
      });
      packed.set(name, packAutoGptq(ql));
      (model.p(`${name}.weight`).data as Float32Array).set(Float32Array.from(ql.weight));
    }
  const config = quantizeConfigFor({ bits, groupSize, actOrder: false }, false);
  return { model, packed, losses: new Map<string, number>(), skipped: [], config };
}

interface Row {
  name: string;
  how: string;
  bytes: number;
  r: PerplexityResult;
}

async function main(): Promise<void> {
  const held = splitTokens(a.shards!, 'val', Number(a.tokens));
  log(`held-out: ${held.length} tokens (val split), ctx ${ctx}`);
  const base = await loadModel(a.model!);
  const calib = calibrationWindows(a.shards!, Number(a.calibration), ctx);

  const variants: [name: string, how: string, make: () => Promise<string | MiniCPM>, kv?: KVCacheDtype][] = [
    ['f32', 'reference', () => Promise.resolve(base)],
    ['bf16', 'weights rounded to bf16', () => loadModel(a.model!, { weightDtype: 'bf16' })],
    [
      'W8 GPTQ g32 act-order',
      'minicpm quantize --bits 8',
      async () => {
        const q = quantizeModel(await loadModel(a.model!), calib, { bits: 8, groupSize: 32, actOrder: true });
        await saveQuantizedModel(path.join(work, 'w8-gptq'), q, { tokenizerFrom: a.model });
        return path.join(work, 'w8-gptq');
      },
    ],
    [
      'W4 GPTQ g32 act-order',
      'minicpm quantize (MiniCPM-2B-sft-int4 settings)',
      async () => {
        const q = quantizeModel(await loadModel(a.model!), calib, { bits: 4, groupSize: 32, actOrder: true });
        await saveQuantizedModel(path.join(work, 'w4-gptq'), q, { tokenizerFrom: a.model });
        return path.join(work, 'w4-gptq');
      },
    ],
    [
      'W4 RTN g32',
      'round to nearest, asymmetric',
      async () => {
        await saveQuantizedModel(path.join(work, 'w4-rtn'), rtnModel(await loadModel(a.model!), 4, 32), {
          tokenizerFrom: a.model,
        });
        return path.join(work, 'w4-rtn');
      },
    ],
    [
      'int8 head',
      'f32 body, --head-dtype int8 (the tied embedding/head as W8)',
      async () => {
        const m = await loadModel(a.model!);
        useInt8Head(m);
        return m;
      },
    ],
    [
      'Q8_0 (GGUF)',
      'minicpm export --dtype q8_0',
      async () => {
        await exportModelToGguf(base, path.join(work, 'q8_0.gguf'), { dtype: 'q8_0' });
        return path.join(work, 'q8_0.gguf');
      },
    ],
    [
      'Q4_0 (GGUF)',
      'minicpm export --dtype q4_0 (embedding/head Q8_0)',
      async () => {
        await exportModelToGguf(base, path.join(work, 'q4_0.gguf'), { dtype: 'q4_0' });
        return path.join(work, 'q4_0.gguf');
      },
    ],
    ['int8 KV', 'f32 weights, `--kv-cache int8`', () => Promise.resolve(base), 'int8'],
  ];
  const only = a.rows?.split(',').map((s) => s.trim());
  const rows: Row[] = [];
  for (const [name, how, make, kvCache] of variants) {
    if (only && name !== 'f32' && !only.includes(name)) continue;
    const t0 = performance.now();
    const made = await make();
    const model = typeof made === 'string' ? await loadAnyModel(made) : made;
    const bytes = typeof made === 'string' ? diskBytes(made) : 0;
    const r = perplexity(model, held, { ctx, base, kvCache });
    rows.push({ name, how, bytes, r });
    log(
      `${name}: PPL ${r.ppl.toFixed(3)}  KLD ${r.kl!.mean.toExponential(3)}  top-1 ${(100 * r.kl!.top1).toFixed(2)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  fs.writeFileSync(
    path.join(work, 'quality.json'),
    JSON.stringify(
      rows.map(({ r, ...x }) => ({ ...x, ...r })),
      null,
      1,
    ),
  );
  const f = rows[0].r;
  console.log(
    `${f.tokens} scored tokens in ${f.chunks} windows of ${ctx} (second halves), held-out val split\n`,
  );
  console.log('| weights | PPL | Δ PPL | mean KLD | top-1 agreement | stored as |');
  console.log('|---|---|---|---|---|---|');
  for (const { name, how, r } of rows) {
    const d = (100 * (r.ppl / f.ppl - 1)).toFixed(2);
    console.log(
      `| ${name} | ${r.ppl.toFixed(3)} ± ${r.pplError.toFixed(3)} | ${name === 'f32' ? '—' : `${d.startsWith('-') ? '' : '+'}${d}%`} | ` +
        `${r.kl!.mean.toFixed(5)} ± ${r.kl!.stderr.toFixed(5)} | ${(100 * r.kl!.top1).toFixed(2)} ± ${(100 * r.kl!.top1Stderr).toFixed(2)}% | ${how} |`,
    );
  }
}

function diskBytes(p: string): number {
  const st = fs.statSync(p);
  if (st.isFile()) return st.size;
  return fs.readdirSync(p).reduce((s, f) => s + diskBytes(path.join(p, f)), 0);
}

await main();
