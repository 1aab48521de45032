/**
 * Long run: is memory flat? Trains the demo model (preset `demo`, μP AdamW through openRun) for
 * --steps steps (default 5,000) on seeded random tokens, with checkpoints and validation on the way (the
 * paths a leak would hide in), and samples the resident set size after a forced GC. Reports the RSS slope
 * over the second half in MB per 1,000 steps and fails (exit 1) when it exceeds --max-slope.
 *
 *   node --expose-gc --import tsx scripts/long-run-rss.ts [--steps 5000] [--batch-size 16] [--seq-len 256]
 *        [--preset demo] [--vocab-size 8192] [--every 25] [--max-slope 8] [--out DIR]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../src/index.js';
import { loadNativeKernels } from '../src/backends/kernels-native.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { presetConfig } from '../src/models/presets.js';
import { Rng } from '../src/tensor/index.js';
import type { Batch, BatchSource } from '../src/train/batches.js';
import { openRun } from '../src/train/run.js';
import { ValidationSet } from '../src/train/validation.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const steps = Number(flag('steps', '5000'));
const B = Number(flag('batch-size', '16'));
const T = Number(flag('seq-len', '256'));
const V = Number(flag('vocab-size', '8192'));
const every = Number(flag('every', '25'));
const maxSlope = Number(flag('max-slope', '8'));
const out = flag('out', fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-rss-')));

/** Seeded random token batches; the cursor is the batch count, so a run could resume exactly. */
class RandomTokens implements BatchSource {
  private n = 0;

  constructor(private readonly seed: number) {}

  next(): Batch {
    const rng = new Rng(this.seed * 1_000_003 + this.n++);
    const ids = Int32Array.from({ length: B * (T + 1) }, () => rng.int(V));
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      inputs.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
      targets.set(ids.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
    }
    return { inputs, targets, batch: B, seqLen: T };
  }

  state(): unknown {
    return { n: this.n };
  }

  setState(s: unknown): void {
    this.n = (s as { n: number }).n;
  }
}

// on the reference backend 5,000 steps would take days: stop at once (the addon is missing, or was being
// rebuilt when this started) rather than measure the wrong thing slowly
if (!loadNativeKernels() && process.env.MINICPM_BACKEND !== 'ref') {
  console.error(
    'long-run-rss: the native kernels did not load (see above); run npm run build-native and retry',
  );
  process.exit(2);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.error('run with node --expose-gc for samples after a full collection');
const rssMb = (): number => {
  gc?.();
  return process.memoryUsage().rss / 2 ** 20;
};

const model = MiniCPM.init(presetConfig(flag('preset', 'demo'), V), new Rng(0));
const run = openRun({ start: { kind: 'fresh', model }, dataId: 'random tokens' });
const heldOut = new RandomTokens(999);
const validation = new ValidationSet(Array.from({ length: 2 }, () => heldOut.next()));
const samples: { step: number; rss: number }[] = [];
const t0 = performance.now();
await run.train(new RandomTokens(1), {
  steps,
  schedule: { kind: 'constant', peak: 0.01, warmupSteps: 10 },
  gradAccum: 1,
  runDir: out,
  saveEvery: Math.max(1, Math.round(steps / 10)),
  keepLast: 1,
  evalEvery: Math.max(1, Math.round(steps / 20)),
  validation,
  spikeFactor: 0,
  config: { script: 'long-run-rss', steps, B, T, V },
  onStep: (m) => {
    if ((m.step + 1) % every === 0) {
      const s = { step: m.step + 1, rss: rssMb() };
      samples.push(s);
      if ((m.step + 1) % (every * 10) === 0)
        console.log(
          `step ${s.step}/${steps}  rss ${s.rss.toFixed(1)} MB  loss ${m.loss.toFixed(3)}  ${((performance.now() - t0) / 1000).toFixed(0)} s`,
        );
    }
  },
});

/** Least-squares slope of RSS over steps in the second half (the first half includes warm-up of pools). */
const half = samples.slice(Math.floor(samples.length / 2));
const mx = half.reduce((a, s) => a + s.step, 0) / half.length;
const my = half.reduce((a, s) => a + s.rss, 0) / half.length;
const slope =
  half.reduce((a, s) => a + (s.step - mx) * (s.rss - my), 0) /
  Math.max(
    1e-9,
    half.reduce((a, s) => a + (s.step - mx) ** 2, 0),
  );
const perK = slope * 1000;
const rss = samples.map((s) => s.rss);
console.log(
  JSON.stringify({
    steps,
    batch: B,
    seqLen: T,
    samples: samples.length,
    rssFirstMb: rss[0],
    rssLastMb: rss[rss.length - 1],
    rssMaxMb: Math.max(...rss),
    slopeMbPer1000Steps: perK,
    seconds: (performance.now() - t0) / 1000,
  }),
);
fs.writeFileSync(path.join(out, 'rss.json'), JSON.stringify(samples));
if (!(perK <= maxSlope)) {
  console.error(`RSS grows ${perK.toFixed(2)} MB per 1,000 steps (limit ${maxSlope})`);
  process.exit(1);
}
