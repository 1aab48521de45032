/**
 * `npm run bench -- serve-sampler [--vocab N] [--tokens N]`: per-token cost of the sampler chain at
 * MiniCPM's vocabulary (122,753) against greedy, on rows shaped like a language model's logits (a
 * Gaussian bulk with a few strong candidates; `--flat`: the bulk alone). Writes bench/results/serve-sampler.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { useBackend } from '../src/backends/index.js';
import { Sampler, type SamplerOptions } from '../src/engine/sampler.js';
import { Rng } from '../src/tensor/index.js';

const CONFIGS: [string, SamplerOptions][] = [
  ['greedy', { temperature: 0 }],
  ['temperature 1', { temperature: 1 }],
  ['top_k 40', { temperature: 1, topK: 40 }],
  ['top_p 0.9', { temperature: 1, topP: 0.9 }],
  ['min_p 0.05', { temperature: 1, minP: 0.05 }],
  ['t 0.8, top_k 40, top_p 0.95', { temperature: 0.8, topK: 40, topP: 0.95 }],
  ['repetition 1.1, top_p 0.9', { temperature: 1, topP: 0.9, repetitionPenalty: 1.1 }],
];

export default function run(args: string[]): void {
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const V = opt('--vocab', 122753);
  const tokens = opt('--tokens', 200);
  useBackend('auto');
  const rng = new Rng(0);
  // peaked: a few likely continuations well above a Gaussian bulk (≈ 2% of the mass in the bulk);
  // flat: the bulk alone, the worst case for top-p (its nucleus is most of the vocabulary)
  const row = (peaked: boolean) => {
    const r = Float32Array.from({ length: V }, () => rng.normal() * 2.5);
    if (peaked) for (let i = 0; i < 20; i++) r[rng.int(V)] += 16 + rng.normal() * 2;
    return r;
  };
  const flat = process.argv.includes('--flat');
  const rows = Array.from({ length: 8 }, () => row(!flat));
  const context = Array.from({ length: 512 }, () => rng.int(V));
  const results: { config: string; msPerToken: number }[] = [];
  for (const [name, o] of CONFIGS) {
    const s = new Sampler({ ...o, seed: 1 });
    for (let i = 0; i < 10; i++) s.sample(rows[i % rows.length], context);
    const t0 = performance.now();
    for (let i = 0; i < tokens; i++) s.sample(rows[i % rows.length], context);
    results.push({ config: name, msPerToken: (performance.now() - t0) / tokens });
  }
  console.log(
    `sampler cost per token, vocabulary ${V}, ${flat ? 'flat' : 'peaked'} rows, ${tokens} tokens each`,
  );
  for (const r of results) console.log(`  ${r.config.padEnd(30)} ${r.msPerToken.toFixed(3)} ms`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/serve-sampler.json',
    JSON.stringify({ vocab: V, rows: flat ? 'flat' : 'peaked', tokens, results }, null, 2),
  );
}
