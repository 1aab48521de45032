/**
 * The μP coordinate check (SPEC.md §2): train a few steps at several widths and record the RMS of
 * every layer's activations. Under μP the curves stay flat as width grows; under the standard
 * parametrization (global LR, no logit or residual multipliers) they grow with width.
 */
import { MiniCPM } from '../models/minicpm.js';
import { presetConfig } from '../models/presets.js';
import { widthMultiplier, type MiniCPMConfig } from '../models/config.js';
import { Rng, Tensor } from '../tensor/index.js';
import { FixedBatch } from '../train/batches.js';
import { openRun } from '../train/run.js';

export type Parametrization = 'mup' | 'sp';

export interface CoordCheckOptions {
  widths: number[];
  layers: number;
  steps: number;
  lr: number;
  seqLen: number;
  batch: number;
  vocab: number;
  seed: number;
}

export interface CoordPoint {
  param: Parametrization;
  width: number;
  step: number;
  activation: string;
  rms: number;
}

function rms(t: Tensor): number {
  const d = t.data as Float32Array;
  let s = 0;
  if (t.isContiguous()) for (let i = t.offset; i < t.offset + t.size; i++) s += d[i] * d[i];
  else for (const v of t.toArray()) s += v * v;
  return Math.sqrt(s / t.size);
}

function modelFor(
  param: Parametrization,
  width: number,
  o: CoordCheckOptions,
): { model: MiniCPM; m: number } {
  const base: MiniCPMConfig = {
    ...presetConfig('tiny', o.vocab),
    hiddenSize: width,
    intermediateSize: Math.round(2.5 * width),
    numLayers: o.layers,
    numHeads: Math.max(1, width / 32),
    numKvHeads: Math.max(1, width / 32),
    headDim: Math.min(32, width),
  };
  // Same initial weights for both parametrizations (μP's variance-1/fan-in style init).
  const mup = MiniCPM.init(base, new Rng(o.seed));
  if (param === 'mup') return { model: mup, m: widthMultiplier(base) };
  const sp: MiniCPMConfig = { ...base, scaleEmb: 1, scaleDepth: Math.sqrt(o.layers), dimModelBase: width };
  return { model: new MiniCPM(sp, mup.params), m: 1 };
}

export async function coordCheck(
  o: CoordCheckOptions,
  onProgress?: (msg: string) => void,
): Promise<CoordPoint[]> {
  const rng = new Rng(o.seed + 1);
  // A learnable stream (a noisy repeating pattern) so training actually moves the weights.
  const row = (): number[] =>
    Array.from({ length: o.seqLen + 1 }, (_, i) =>
      rng.uniform() < 0.8 ? (i * 7) % o.vocab : rng.int(o.vocab),
    );
  const rows = Array.from({ length: o.batch }, row);
  const batch = new FixedBatch(
    rows.map((r) => r.slice(0, -1)),
    rows.map((r) => r.slice(1)),
  );
  const points: CoordPoint[] = [];
  for (const param of ['mup', 'sp'] as const) {
    for (const width of o.widths) {
      const { model, m } = modelFor(param, width, o);
      let step = 0;
      model.probe = (name, t) => {
        if (t.requiresGrad || t.kind === 'activation')
          points.push({ param, width, step, activation: name, rms: rms(t) });
      };
      // no decay and no clipping: the coordinate check watches the raw updates
      const run = openRun({
        start: { kind: 'fresh', model },
        dataId: 'coord-check batch',
        adamw: { weightDecay: 0, clip: 0 },
        widthMultiplier: () => m,
      });
      await run.train(batch, {
        steps: o.steps,
        schedule: { kind: 'constant', peak: o.lr, warmupSteps: 0 },
        gradAccum: 1,
        runDir: null,
        saveEvery: 0,
        keepLast: 0,
        evalEvery: 0,
        spikeFactor: 0,
        config: { ...o, param, width },
        onStep: () => step++,
      });
      onProgress?.(`${param} width ${width}: done`);
      for (const p of model.parameters()) p.dispose();
    }
  }
  return points;
}

/** Growth of each activation's RMS from the narrowest to the widest model, at the last step. */
export function growth(points: CoordPoint[], param: Parametrization, step: number): Map<string, number> {
  const at = points.filter((p) => p.param === param && p.step === step);
  const widths = [...new Set(at.map((p) => p.width))].sort((a, b) => a - b);
  const out = new Map<string, number>();
  for (const name of new Set(at.map((p) => p.activation))) {
    const lo = at.find((p) => p.activation === name && p.width === widths[0]);
    const hi = at.find((p) => p.activation === name && p.width === widths[widths.length - 1]);
    if (lo && hi) out.set(name, hi.rms / lo.rms);
  }
  return out;
}
