/**
 * `minicpm perplexity`: llama-perplexity's protocol (eval/perplexity) over a text file, optionally
 * against a reference model (`--kl-base`) for KL divergence and top-1 agreement. Any model the other
 * commands load works: a folder, a GPTQ folder or a GGUF file.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { EvalError } from '../eval/errors.js';
import { perplexity, type PerplexityResult } from '../eval/perplexity.js';
import { loadAnyModel } from '../quant/index.js';
import { applyHeadDtype } from '../quant/int8-head.js';
import { KV_CACHE_FLAG, KV_CACHE_HELP, kvCacheOption } from './kv-cache-option.js';
import { loadModelTokenizer } from './model-tokenizer.js';

export interface PerplexityCli {
  model: string;
  input: string;
  ctx: string;
  klBase?: string;
  tokenizer?: string;
  chunks?: string;
  dtype: string;
  headDtype?: string;
  kvCache?: string;
  json?: boolean;
}

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

export function formatPerplexity(r: PerplexityResult): string {
  const lines = [
    `PPL = ${fmt(r.ppl)} +/- ${fmt(r.pplError)}  (${r.chunks} windows of ${r.ctx}, ${r.tokens} scored tokens)`,
  ];
  if (r.kl) {
    lines.push(`base PPL = ${fmt(r.kl.basePpl)} +/- ${fmt(r.kl.basePplError)}`);
    lines.push(`Mean KLD = ${fmt(r.kl.mean, 6)} +/- ${fmt(r.kl.stderr, 6)}`);
    lines.push(`Same top p = ${fmt(100 * r.kl.top1, 3)} +/- ${fmt(100 * r.kl.top1Stderr, 3)} %`);
  }
  return lines.join('\n');
}

export async function perplexityCommand(o: PerplexityCli): Promise<PerplexityResult> {
  if (!fs.existsSync(o.input)) throw new EvalError(`--input ${o.input} does not exist`);
  const ctx = Number(o.ctx);
  if (o.dtype !== 'f32' && o.dtype !== 'bf16')
    throw new EvalError(`--dtype must be f32 or bf16, got ${o.dtype}`);
  const weightDtype = o.dtype;
  const kvCache = o.kvCache === undefined ? undefined : kvCacheOption(o.kvCache);
  const tok = loadModelTokenizer(o.tokenizer ?? o.model).tokenizer;
  // As llama-perplexity: the whole text tokenized once with BOS first.
  const tokens = [tok.bosId, ...tok.encode(fs.readFileSync(o.input, 'utf8'))];
  const model = await loadAnyModel(o.model, { weightDtype });
  applyHeadDtype(model, o.headDtype ?? 'float');
  const base = o.klBase ? await loadAnyModel(o.klBase, { weightDtype: 'f32' }) : undefined;
  const r = perplexity(model, tokens, {
    ctx,
    bosId: tok.bosId,
    base,
    kvCache,
    maxChunks: o.chunks ? Number(o.chunks) : undefined,
    onChunk: o.json ? undefined : (c, n, ppl) => process.stderr.write(`[${c}/${n}] ${ppl.toFixed(4)}\n`),
  });
  console.log(o.json ? JSON.stringify(r) : formatPerplexity(r));
  return r;
}

export function registerPerplexityCommand(program: Command): void {
  program
    .command('perplexity')
    .description("perplexity over a text file with llama-perplexity's protocol; --kl-base adds KL divergence")
    .requiredOption('--model <path>', 'model folder, GPTQ folder or .gguf file')
    .requiredOption('--input <file>', 'UTF-8 text (e.g. wiki.test.raw)')
    .option('--ctx <n>', 'window length; the second half of each window is scored', '512')
    .option('--kl-base <path>', 'reference model (same vocabulary): KL divergence and top-1 agreement')
    .option('--tokenizer <path>', 'tokenizer (default: the model folder or GGUF file)')
    .option('--chunks <n>', 'score at most this many windows')
    .option('--dtype <f32|bf16>', 'weight storage of --model', 'f32')
    .option('--head-dtype <float|int8>', 'LM head (and tied embedding) of --model as int8 rows', 'float')
    .option(KV_CACHE_FLAG, `${KV_CACHE_HELP}; each window runs through it (default: no cache)`)
    .option('--json', 'print the result as JSON')
    .action(async (o: PerplexityCli) => void (await perplexityCommand(o)));
}
