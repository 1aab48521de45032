/**
 * `npm run bench -- lora [--quick] [--layers N] [--seq T]`: one LoRA SFT step (forward, backward, AdamW on
 * the adapters) on a MiniCPM-2B-wide model (d 2304, ff 5760, vocab 122753, 40 layers) whose frozen base
 * is held in bf16, LoRA r 16 / alpha 32 / dropout 0.05 on all seven projections, batch 1 × 512 tokens.
 * Reports peak RSS (target ≤ 8 GB) and tokens/s against a plain-PyTorch eager LoRA step on the same
 * shapes in the same run (bench/lora-torch-step.py; target ≥ 1.2×). Writes bench/results/lora.json.
 * W4 bases are not measured: LoRA on int4/int8 weights has no backward yet.
 * --quick: 4 layers and 128 tokens, to check that the script runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initLora } from '../src/align/lora.js';
import { loraAdamW } from '../src/align/lora-checkpoint.js';
import { nativeBackend } from '../src/backends/index.js';
import { MiniCPM, parameterShapes } from '../src/models/minicpm.js';
import { presetConfig } from '../src/models/presets.js';
import { backward, f32ToBf16, Rng, scope, setBackend, Tensor, zeroGrad } from '../src/tensor/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';
const LORA = { r: 16, alpha: 32, dropout: 0.05 };
const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/**
 * A bf16 model of the config without ever holding f32 weights: every matrix is filled from one table of
 * 2^20 random bf16 values (N(0, std)) at a random start, which is as good as fresh draws for timing.
 */
function bf16Model(L: number): MiniCPM {
  const cfg = presetConfig('minicpm-2b', 122753, { numLayers: L });
  const rng = new Rng(0);
  const table = Uint16Array.from({ length: 1 << 20 }, () => f32ToBf16(rng.normal() * 0.02));
  const params = new Map<string, Tensor>();
  for (const [name, shape] of parameterShapes(cfg)) {
    if (shape.length === 1) {
      params.set(name, Tensor.parameter(Tensor.ones(shape), name));
      continue;
    }
    const t = Tensor.empty(shape, 'bf16').keep();
    const bits = t.data as Uint16Array;
    for (let at = 0; at < bits.length;) {
      const start = rng.int(table.length >> 1);
      const n = Math.min(bits.length - at, table.length - start);
      bits.set(table.subarray(start, start + n), at);
      at += n;
    }
    t.name = name;
    params.set(name, t);
  }
  return new MiniCPM(cfg, params);
}

function oursStep(L: number, T: number, steps: number): { tps: number; rssGb: number; loss: number } {
  const model = bf16Model(L);
  const lora = initLora(model, { ...LORA, targets: TARGETS, rslora: false }, 0);
  const opt = loraAdamW(lora, { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0, clip: 1 });
  const rng = new Rng(1);
  const ids = Tensor.from(
    Int32Array.from({ length: T }, () => rng.int(122753)),
    [1, T],
    'i32',
  ).keep();
  const times: number[] = [];
  let loss = NaN;
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    loss = scope(() => {
      const l = model.loss(ids, ids);
      backward(l);
      return l.item();
    });
    opt.update(1e-4);
    zeroGrad(lora.parameters());
    if (i > 0 || steps === 0) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return {
    tps: T / (times[times.length >> 1] / 1000),
    rssGb: (process.resourceUsage().maxRSS * 1024) / 1e9,
    loss,
  };
}

function peerStep(
  L: number,
  T: number,
  steps: number,
  threads: number,
): { tps: number; rssGb: number } | string {
  if (!existsSync(PY) || spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0)
    return 'python3-torch is not installed (apt-get install python3-torch)';
  const r = spawnSync(PY, [join(here, 'lora-torch-step.py'), ...[L, T, steps, threads].map(String)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return `the PyTorch peer failed: ${r.stderr.slice(-400)}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    median_s: number;
    tokens: number;
    maxrss_kb: number;
  };
  return { tps: out.tokens / out.median_s, rssGb: (out.maxrss_kb * 1024) / 1e9 };
}

export default function main(args: string[]): void {
  const quick = args.includes('--quick');
  const L = flag(args, '--layers', quick ? 4 : 40);
  const T = flag(args, '--seq', quick ? 128 : 512);
  const steps = flag(args, '--steps', quick ? 1 : 2);
  const backend = nativeBackend();
  if (!backend) throw new Error('the native backend is not built: run `npm run build-native`');
  setBackend(backend);
  // the peer first: our process's peak RSS must be our own
  const peer = peerStep(L, T, steps, 2);
  const ours = oursStep(L, T, steps);
  const row = {
    name: `LoRA r16 SFT step, minicpm-2b width, L${L} T${T} B1, bf16 base`,
    unit: 'tokens/s',
    ours: ours.tps,
    ours_peak_rss_gb: ours.rssGb,
    rss_target_gb: L === 40 && T === 512 ? 8 : null,
    peer: typeof peer === 'string' ? `pytorch eager (missing: ${peer})` : 'pytorch eager LoRA, bf16 base',
    peer_value: typeof peer === 'string' ? null : peer.tps,
    peer_peak_rss_gb: typeof peer === 'string' ? null : peer.rssGb,
    ratio: typeof peer === 'string' ? null : ours.tps / peer.tps,
    loss: ours.loss,
    w4_base: 'not measured: LoRA over int4/int8 weights has no backward yet',
  };
  console.table([row]);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'lora.json'), JSON.stringify({ rows: [row] }, null, 1) + '\n');
}
