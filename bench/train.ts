/**
 * `npm run bench -- train [--quick]`: tokens/s of a full MiniCPM training step (forward, backward,
 * clipping, AdamW) against PyTorch eager on CPU (Debian python3-torch, same config, same threads,
 * OPENBLAS_CORETYPE=SkylakeX), alternating ours and the peer, medians reported. Writes
 * bench/results/train.json. MFU counts 6·N per token plus causal attention, against the fp32 peak.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBackend } from '../src/backends/index.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { presetConfig } from '../src/models/presets.js';
import { backward, Rng, scope, setBackend, Tensor, zeroGrad } from '../src/tensor/index.js';
import { FP32_PEAK, trainFlopsPerToken } from '../src/train/flops.js';
import { muPAdamW, type AdamW } from '../src/train/optimizer.js';

const here = dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';

interface Shape {
  d: number;
  L: number;
  T: number;
  B: number;
  V: number;
}

function ensureTorch(): string | null {
  const probe = () => spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  if (existsSync(PY) && probe()) return null;
  console.log('installing the peer: apt-get install -y python3-torch');
  spawnSync('apt-get', ['update'], { stdio: 'ignore' });
  spawnSync('apt-get', ['install', '-y', 'python3-torch'], { stdio: 'ignore' });
  return probe() ? null : 'python3-torch could not be installed';
}

function peerStep(s: Shape, threads: number, steps: number): number {
  const r = spawnSync(
    PY,
    [
      join(here, 'peers', 'torch_train_step.py'),
      ...[s.d, s.L, s.T, s.B, s.V, threads, steps].map(String),
      'fp32',
    ],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        OPENBLAS_CORETYPE: 'SkylakeX',
        OMP_NUM_THREADS: String(threads),
        OPENBLAS_NUM_THREADS: String(threads),
      },
    },
  );
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr}`);
  const { median_s, tokens } = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    median_s: number;
    tokens: number;
  };
  return tokens / median_s;
}

function oursStep(model: MiniCPM, opt: AdamW, ids: Tensor, steps: number): number {
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    scope(() => backward(model.loss(ids, ids)));
    opt.update(1e-3);
    zeroGrad(model.parameters());
    if (i > 0) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return ids.size / (times[times.length >> 1] / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export default function main(args: string[]): void {
  const quick = args.includes('--quick');
  const shape: Shape = { d: 512, L: 8, T: 512, B: 4, V: 32000 };
  const backend = nativeBackend();
  if (!backend) throw new Error('the native backend is not built: run `npm run build-native`');
  setBackend(backend);
  const missing = ensureTorch();
  const cfg = {
    ...presetConfig('sandbox-0.036b', shape.V),
    numLayers: shape.L,
  };
  const model = MiniCPM.init(cfg, new Rng(0));
  const opt = muPAdamW(model, {}, shape.d / 256);
  const rng = new Rng(1);
  const ids = Tensor.from(
    Int32Array.from({ length: shape.B * shape.T }, () => rng.int(shape.V)),
    [shape.B, shape.T],
    'i32',
  ).keep();
  const passes = quick ? 1 : 3;
  const steps = quick ? 2 : 4;
  const ours: number[] = [];
  const peer: number[] = [];
  for (let p = 0; p < passes; p++) {
    ours.push(oursStep(model, opt, ids, steps));
    if (!missing) peer.push(peerStep(shape, 2, steps));
    console.log(
      `pass ${p + 1}: ours ${ours[p].toFixed(0)} tok/s${missing ? '' : `, pytorch ${peer[p].toFixed(0)} tok/s`}`,
    );
  }
  const o = median(ours);
  const flops = trainFlopsPerToken(cfg, shape.T);
  const row = {
    name: `train step d${shape.d} L${shape.L} T${shape.T} B${shape.B} V${shape.V} fp32 2t`,
    unit: 'tokens/s',
    ours: o,
    peer: missing ? `pytorch (missing: ${missing})` : 'pytorch',
    peer_value: missing ? null : median(peer),
    ratio: missing ? null : o / median(peer),
    limit_fraction: (o * flops) / FP32_PEAK,
    mfu_note: `MFU against the ${FP32_PEAK / 1e9} GFLOP/s fp32 peak of PERFORMANCE.md; ${((o * flops) / 1e9).toFixed(0)} GFLOP/s achieved`,
  };
  console.table([row]);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'train.json'), JSON.stringify({ rows: [row] }, null, 1) + '\n');
}
