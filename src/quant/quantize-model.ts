// GPTQ over a whole MiniCPM (SPEC §9), one decoder layer at a time. Each group of linear layers that
// reads the same input is quantized from the Hessian of the inputs it really sees on the calibration
// sequences. True-sequential (AutoGPTQ's default, and MiniCPM-2B-sft-int4's setting): within a layer
// [k,v,q] → [o] → [up,gate] → [down], each group's inputs recomputed through the groups already
// quantized; either way the layer's outputs, computed with its quantized weights, feed the next layer.
// Embeddings, norms and the head stay in floating point.

import { LINEAR_GROUPS, type LinearGroup, type MiniCPM } from '../models/minicpm.js';
import { keep, matmul, noGrad, reshape, scope, Tensor } from '../tensor/index.js';
import { dequantizePacked, packAutoGptq, type PackedLinear } from './autogptq.js';
import { QuantShapeError } from './errors.js';
import { factorHessian, gptqQuantize } from './gptq.js';
import type { GptqOptions } from './gptq-setup.js';
import { matrixFromTensor } from './matrix.js';
import { quantizeConfigFor, type QuantizeConfig } from './quantize-config.js';

export interface QuantizeModelOptions extends GptqOptions {
  /** Recompute each group's inputs through the groups quantized before it (default true). */
  trueSequential?: boolean;
  /** Called after each linear layer is quantized. */
  onLayer?: (e: QuantizedLayerInfo) => void;
}

export interface QuantizedLayerInfo {
  /** Module path, e.g. model.layers.0.self_attn.q_proj. */
  name: string;
  layer: number;
  /** GPTQ's reported error Σ (w − q)²/U[i,i]² / 2. */
  loss: number;
  seconds: number;
}

export interface QuantizedModel {
  /** The model passed in, its linear weights replaced by what a reader of the packed layers computes. */
  model: MiniCPM;
  /** Every quantized linear layer in AutoGPTQ's layout, by module path. */
  packed: Map<string, PackedLinear>;
  losses: Map<string, number>;
  /**
   * Linear layers left in floating point because AutoGPTQ's int32 words cannot pack their shape (both
   * dimensions must be multiples of 32/bits), e.g. llama2.c's 172-wide MLP.
   */
  skipped: string[];
  config: QuantizeConfig;
}

/** The order groups are quantized in under true-sequential (SPEC §9; k/v/q share one Hessian). */
const GROUP_ORDER: LinearGroup[] = ['qkv', 'o', 'gate_up', 'down'];

/** Σ xᵀx and the row count of one group's inputs, accumulated in f64 from f32 GEMMs per sequence. */
interface Gram {
  sum: Float64Array;
  rows: number;
}

/**
 * Quantizes every linear layer of `model` in place with GPTQ from `calibration` (token id sequences, run
 * one at a time from position 0). Weights must be f32 (load without weightDtype 'bf16'). Zero points
 * are kept storable in AutoGPTQ's format unless `storableZeros: false` is passed.
 */
export function quantizeModel(
  model: MiniCPM,
  calibration: number[][],
  opts: QuantizeModelOptions = {},
): QuantizedModel {
  const c = model.config;
  if (calibration.length === 0 || calibration.some((s) => s.length === 0))
    throw new QuantShapeError('calibration needs at least one non-empty sequence of token ids');
  for (const s of calibration)
    for (const id of s)
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize)
        throw new QuantShapeError(`calibration token id ${id} is outside the vocabulary [0, ${c.vocabSize})`);
  for (let l = 0; l < c.numLayers; l++)
    for (const mod of Object.values(LINEAR_GROUPS).flat()) {
      const w = model.p(`model.layers.${l}.${mod}.weight`);
      if (w.dtype !== 'f32' || !w.isContiguous())
        throw new QuantShapeError(
          `model.layers.${l}.${mod}.weight is ${w.dtype}: load the model with f32 weights to quantize it`,
        );
    }
  const { trueSequential = true, onLayer, ...rest } = opts;
  const gptq: GptqOptions = {
    bits: 4,
    groupSize: 128,
    damp: 0.01,
    actOrder: false,
    sym: false,
    storableZeros: true,
    ...rest,
  };
  const result: QuantizedModel = {
    model,
    packed: new Map(),
    losses: new Map(),
    skipped: [],
    config: quantizeConfigFor(gptq, trueSequential),
  };
  let xs = noGrad(() =>
    calibration.map((ids) => keep(model.embed(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')))),
  );
  try {
    for (let l = 0; l < c.numLayers; l++) {
      const passes = trueSequential ? GROUP_ORDER.map((g) => [g]) : [GROUP_ORDER];
      for (const groups of passes) {
        const grams = layerInputGrams(model, l, xs, groups);
        for (const g of groups) quantizeGroup(model, l, g, grams.get(g)!, gptq, result, onLayer);
      }
      const next = noGrad(() => xs.map((x) => keep(scope(() => model.decoderLayer(l, x, 0)))));
      for (const x of xs) x.dispose();
      xs = next;
    }
  } finally {
    for (const x of xs) x.dispose();
  }
  return result;
}

/** Runs layer `l` over every calibration sequence, accumulating the Gram matrix of each group's input. */
function layerInputGrams(
  model: MiniCPM,
  l: number,
  xs: Tensor[],
  groups: LinearGroup[],
): Map<LinearGroup, Gram> {
  const grams = new Map<LinearGroup, Gram>();
  model.linearInputs = (layer, group, x) => {
    if (layer !== l || !groups.includes(group)) return;
    const n = x.shape[x.rank - 1];
    const rows = x.size / n;
    const x2 = reshape(x, [rows, n]);
    const g = matmul(x2, x2, true, false); // xᵀx [n, n] through the engine's GEMM
    let acc = grams.get(group);
    if (!acc) grams.set(group, (acc = { sum: new Float64Array(n * n), rows: 0 }));
    const d = g.data as Float32Array;
    for (let i = 0; i < n * n; i++) acc.sum[i] += d[g.offset + i];
    acc.rows += rows;
  };
  try {
    noGrad(() => {
      for (const x of xs) scope(() => void model.decoderLayer(l, x, 0));
    });
  } finally {
    model.linearInputs = null;
  }
  return grams;
}

function quantizeGroup(
  model: MiniCPM,
  l: number,
  group: LinearGroup,
  gram: Gram,
  gptq: GptqOptions,
  result: QuantizedModel,
  onLayer: QuantizeModelOptions['onLayer'],
): void {
  const perWord = 32 / (gptq.bits ?? 4);
  const names = LINEAR_GROUPS[group].map((mod) => `model.layers.${l}.${mod}`);
  const packable = names.filter((name) => {
    const [out, cols] = model.p(`${name}.weight`).shape;
    return out % perWord === 0 && cols % perWord === 0;
  });
  result.skipped.push(...names.filter((n) => !packable.includes(n)));
  if (packable.length === 0) return;
  const n = Math.round(Math.sqrt(gram.sum.length));
  const h = new Float64Array(n * n);
  const scale = 2 / gram.rows; // H = (2/n)·XᵀX
  for (let i = 0; i < h.length; i++) h[i] = gram.sum[i] * scale;
  const factor = factorHessian(h, n, { damp: gptq.damp, actOrder: gptq.actOrder });
  for (const name of packable) {
    const t0 = performance.now();
    const w = model.p(`${name}.weight`);
    const q = gptqQuantize(matrixFromTensor(w), factor, gptq);
    const packed = packAutoGptq(q);
    // what a reader of the file computes (fp16 scales), so the in-memory model and a reload agree
    (w.data as Float32Array).set(dequantizePacked(packed), w.offset);
    result.packed.set(name, packed);
    result.losses.set(name, q.loss);
    onLayer?.({ name, layer: l, loss: q.loss, seconds: (performance.now() - t0) / 1000 });
  }
}
