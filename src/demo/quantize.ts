/**
 * GPTQ int4 of the demo's final model (SPEC §9): MiniCPM-2B-sft-int4's settings (4 bits, asymmetric,
 * act-order, true-sequential) with groups sized to the demo's width, calibrated on windows of the decay
 * mixture, written as an AutoGPTQ folder that `generate`, `eval` and `serve` load onto the int4 kernels.
 */
import { PackedLoader } from '../data/loader.js';
import { loadModel } from '../models/load.js';
import { quantizeModel, saveQuantizedModel } from '../quant/index.js';

export interface QuantizeSpec {
  /** The float model folder (the DPO checkpoint). */
  from: string;
  out: string;
  shardsDir: string;
  mixture: string;
  samples: number;
  seqLen: number;
  groupSize: number;
  seed: number;
  log: (msg: string) => void;
}

export interface QuantizeSummary {
  layers: number;
  skipped: string[];
  /** Mean of GPTQ's per-layer error Σ(w − q)²/U[i,i]²/2. */
  meanLayerLoss: number;
  calibrationTokens: number;
}

/** `samples` windows of `seqLen` tokens from the mixture's training stream (seeded). */
function calibration(s: QuantizeSpec): number[][] {
  const loader = new PackedLoader({
    shardsDir: s.shardsDir,
    split: 'train',
    seqLen: s.seqLen,
    batchSize: s.samples,
    seed: s.seed + 101,
    mixture: s.mixture,
  });
  try {
    const b = loader.next();
    return Array.from({ length: b.batch }, (_, i) =>
      Array.from(b.inputs.subarray(i * b.seqLen, (i + 1) * b.seqLen)),
    );
  } finally {
    loader.close();
  }
}

export async function quantizeStage(s: QuantizeSpec): Promise<QuantizeSummary> {
  const windows = calibration(s);
  const model = await loadModel(s.from);
  const q = quantizeModel(model, windows, {
    bits: 4,
    groupSize: s.groupSize,
    actOrder: true,
    sym: false,
    damp: 0.01,
    trueSequential: true,
  });
  // written to a temporary folder and renamed: a kill leaves no half-written model behind
  await saveQuantizedModel(s.out, q, { tokenizerFrom: s.from });
  const losses = [...q.losses.values()];
  const summary = {
    layers: q.packed.size,
    skipped: q.skipped,
    meanLayerLoss: losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length),
    calibrationTokens: windows.length * s.seqLen,
  };
  s.log(
    `   ${summary.layers} linear layers to int4 (groups of ${s.groupSize}), calibration ${windows.length} × ${s.seqLen} tokens` +
      (summary.skipped.length ? `; kept in float: ${summary.skipped.join(', ')}` : ''),
  );
  for (const p of model.parameters()) p.dispose();
  return summary;
}
