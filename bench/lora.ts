/**
 * `npm run bench -- lora [--quick] [--layers N] [--seq T] [--steps S] [--no-checkpoint-layers]
 * [--peer-plain]`: one LoRA SFT step (forward, backward, AdamW on the adapters) on a MiniCPM-2B-wide model
 * (d 2304, ff 5760, vocab 122753, all 40 layers) whose frozen base is held in bf16, LoRA r 16 / alpha 32 /
 * dropout 0.05 on all seven projections, batch 1 × 512 tokens, decoder layers checkpointed (as `sft --lora`
 * runs by default). Reports peak RSS (target ≤ 8 GB) and tokens/s against a plain-PyTorch eager LoRA step
 * on the same shapes in the same run (bench/lora-torch-step.py, bf16 base, every layer under
 * torch.utils.checkpoint like ours; --peer-plain adds the peer keeping all activations, ~12 GB at full
 * size; target ≥ 1.2×). Writes bench/results/lora.json. The same step on a W4 base (every projection int4
 * per 32, target ≤ 5 GB). Each of ours runs in its own process, so that each peak RSS is its own; the
 * median of S timed steps (default 1) after one warm-up. --quick: 4 layers and 128 tokens, to check that it runs.
 */
import { spawnSync } from 'node:child_process';
import { argv, execArgv, execPath } from 'node:process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initLora, useLayerCheckpoints } from '../src/align/lora.js';
import { loraAdamW } from '../src/align/lora-checkpoint.js';
import { nativeBackend } from '../src/backends/index.js';
import { MiniCPM, parameterShapes } from '../src/models/minicpm.js';
import { QuantizedLinears } from '../src/quant/qlinear.js';
import type { QWeight } from '../src/quant/qweight.js';
import { quantizeToQWeight } from '../src/quant/qweight-quantize.js';
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
 * The base without ever holding f32 weights: every matrix is filled from one table of 2^20 random bf16
 * values (N(0, 0.02)) at random starts, as good as fresh draws for timing. W4: each projection is drawn
 * into one reused bf16 scratch and quantized (int4 per 32); no bf16 copy of it is kept.
 */
function baseModel(L: number, w4: boolean): MiniCPM {
  const cfg = presetConfig('minicpm-2b', 122753, { numLayers: L });
  const rng = new Rng(0);
  const table = Uint16Array.from({ length: 1 << 20 }, () => f32ToBf16(rng.normal() * 0.02));
  const fill = (bits: Uint16Array) => {
    for (let at = 0; at < bits.length;) {
      const start = rng.int(table.length >> 1);
      const n = Math.min(bits.length - at, table.length - start);
      bits.set(table.subarray(start, start + n), at);
      at += n;
    }
  };
  const params = new Map<string, Tensor>();
  const quantized = new Map<string, QWeight>();
  const scratch = w4 ? new Uint16Array(cfg.intermediateSize * cfg.hiddenSize) : null;
  for (const [name, shape] of parameterShapes(cfg)) {
    if (shape.length === 1) {
      params.set(name, Tensor.parameter(Tensor.ones(shape), name));
      continue;
    }
    if (scratch && name.endsWith('_proj.weight')) {
      const bits = scratch.subarray(0, shape[0] * shape[1]);
      fill(bits);
      quantized.set(
        name.slice(0, -'.weight'.length),
        quantizeToQWeight(bits, shape[0], shape[1], 4, true, name),
      );
      continue;
    }
    const t = Tensor.empty(shape, 'bf16').keep();
    fill(t.data as Uint16Array);
    t.name = name;
    params.set(name, t);
  }
  const model = new MiniCPM(cfg, params);
  if (w4) model.linearRunner = new QuantizedLinears(quantized, (m) => model.p(`${m}.weight`));
  return model;
}

interface Measured {
  tps: number;
  rssGb: number;
  loss: number;
}

function oursStep(L: number, T: number, steps: number, w4: boolean, ck: boolean): Measured {
  const model = baseModel(L, w4);
  const lora = initLora(model, { ...LORA, targets: TARGETS, rslora: false }, 0);
  useLayerCheckpoints(model, ck, lora);
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
  ck: boolean,
): { tps: number; rssGb: number } | string {
  if (!existsSync(PY) || spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0)
    return 'python3-torch is not installed (apt-get install python3-torch)';
  const args = [L, T, steps, threads, ck ? 1 : 0].map(String);
  const r = spawnSync(PY, [join(here, 'lora-torch-step.py'), ...args], {
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

/** One of our steps in a child process (its own peak RSS): `--only bf16|w4` prints its JSON line. */
function oursChild(base: 'bf16' | 'w4', L: number, T: number, steps: number, ck: boolean): Measured {
  const r = spawnSync(
    execPath,
    [
      ...execArgv,
      argv[1],
      'lora',
      '--only',
      base,
      '--layers',
      String(L),
      '--seq',
      String(T),
      '--steps',
      String(steps),
      ...(ck ? [] : ['--no-checkpoint-layers']),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`our ${base} step failed: ${r.stderr.slice(-600)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measured;
}

export default function main(args: string[]): void {
  const quick = args.includes('--quick');
  const L = flag(args, '--layers', quick ? 4 : 40);
  const T = flag(args, '--seq', quick ? 128 : 512);
  // one warm-up step, then S timed (median): at full size a step is a minute or more, so S = 1
  const steps = flag(args, '--steps', 1);
  const ck = !args.includes('--no-checkpoint-layers');
  const backend = nativeBackend();
  if (!backend) throw new Error('the native backend is not built: run `npm run build-native`');
  setBackend(backend);
  if (args.includes('--only')) {
    const w4 = args[args.indexOf('--only') + 1] === 'w4';
    console.log(JSON.stringify(oursStep(L, T, steps, w4, ck)));
    return;
  }
  const full = L === 40 && T === 512;
  const peers = [ck, ...(args.includes('--peer-plain') && ck ? [false] : [])].map((pck) => ({
    what: `pytorch eager LoRA, bf16 base${pck ? ', layers under torch.utils.checkpoint' : ', all activations kept'}`,
    got: peerStep(L, T, steps, 2, pck),
  }));
  const ours = (['bf16', 'w4'] as const).map((base) => ({ base, m: oursChild(base, L, T, steps, ck) }));
  const rows = ours.flatMap(({ base, m }) =>
    peers.map(({ what, got }) => ({
      name: `LoRA r16 SFT step, minicpm-2b width, L${L} T${T} B1, ${base} base${ck ? ', layers checkpointed' : ''}`,
      unit: 'tokens/s',
      ours: m.tps,
      ours_peak_rss_gb: m.rssGb,
      rss_target_gb: full ? (base === 'bf16' ? 8 : 5) : null,
      peer: typeof got === 'string' ? `${what} (missing: ${got})` : what,
      peer_value: typeof got === 'string' ? null : got.tps,
      peer_peak_rss_gb: typeof got === 'string' ? null : got.rssGb,
      ratio: typeof got === 'string' ? null : m.tps / got.tps,
      loss: m.loss,
    })),
  );
  console.table(rows);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'lora.json'), JSON.stringify({ rows }, null, 1) + '\n');
}
