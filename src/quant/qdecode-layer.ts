// A quantized model's decoder layer for one token of one sequence in one kernel call
// (native/src/qdecode-layer.h): q/k/v, RoPE + KV append + attention, o, residual + norm, gate/up, SwiGLU,
// down, residual + next norm. Per op that is nine addon calls a layer with JavaScript between them, ~20 µs
// a call on the 2B-wide W4 model, most of it cache misses (each token's weight stream evicts what the
// JavaScript touches). The kernels are the ones the per-op path runs, in the same order, so the outputs
// and the cache are the same bits; the per-op path stays for everything this declines (a layer with a
// weight kept in float, q/k/v or gate/up in more than one call, an int8 or batched cache, no addon).

import { quantKernels, type QDecodePlan, type QRunArgs } from '../backends/quant.js';
import { multipliers } from '../models/config.js';
import type { DecodeLayerStep } from '../models/minicpm.js';
import { type ResidualNorm, Tensor } from '../tensor/index.js';
import { planRuns, type QRun } from './qplan.js';
import type { QWeight } from './qweight.js';

/** The modules of layer l in the order the plan takes them: q, k, v, o, gate, up, down. */
function layerModules(l: number): string[] {
  const a = `model.layers.${l}.self_attn`;
  const m = `model.layers.${l}.mlp`;
  return [
    `${a}.q_proj`,
    `${a}.k_proj`,
    `${a}.v_proj`,
    `${a}.o_proj`,
    `${m}.gate_proj`,
    `${m}.up_proj`,
    `${m}.down_proj`,
  ];
}

const runArgs = (r: QRun): QRunArgs => [r.bits, r.perm, r.codes, r.scales, r.zeros, r.ns];

/** One call's worth of weights when they make exactly one run, else null. */
function oneRun(ws: QWeight[]): QRun | null {
  const runs = planRuns(ws, true);
  return runs.length === 1 ? runs[0] : null;
}

const f32 = (t: Tensor): boolean => t.dtype === 'f32' && t.isContiguous();

interface LayerPlan {
  /** The gain it points into: rebuilt when the model's changes (as when the runner's weights do). */
  postGain: Tensor;
  handle: QDecodePlan;
  scratch: number;
}

/** The fused layers of one quantized runner: a kept plan per layer, one scratch block for all. */
export class DecodeLayers {
  /** Per layer: its plan, or null where it cannot be fused (decided once per set of weights). */
  private readonly plans = new Map<
    number,
    { names: string[]; plan: LayerPlan | null; ws: (QWeight | undefined)[] }
  >();
  private scratch = new Float32Array(0);

  constructor(private readonly runner: { readonly weights: Map<string, QWeight> }) {}

  run(step: DecodeLayerStep): ResidualNorm | null {
    const k = quantKernels();
    if (!k.qdecodeLayer) return null;
    const { x, xn, nextGain, cos, sin, cache } = step;
    if (!f32(x) || !f32(xn) || !f32(nextGain) || !f32(cos) || !f32(sin)) return null;
    const plan = this.planFor(step);
    if (!plan) return null;
    const slot = cache.decodeSlot(step.layer);
    if (!slot) return null;
    const kc = slot.k.data as Uint16Array | Float32Array;
    const vc = slot.v.data as Uint16Array | Float32Array;
    if (this.scratch.length < plan.scratch) this.scratch = new Float32Array(plan.scratch);
    const sum = Tensor.empty(x.shape);
    const norm = Tensor.empty(x.shape);
    const data = (t: Tensor) => t.data as Float32Array;
    const done = k.qdecodeLayer(
      plan.handle,
      data(x),
      x.offset,
      data(xn),
      xn.offset,
      data(nextGain),
      nextGain.offset,
      slot.pos,
      kc,
      slot.k.offset,
      vc,
      slot.v.offset,
      data(cos),
      cos.offset,
      data(sin),
      sin.offset,
      data(sum),
      sum.offset,
      data(norm),
      norm.offset,
      this.scratch,
      0,
    );
    if (done) return { sum, norm };
    sum.dispose();
    norm.dispose();
    return null;
  }

  /** Layer `step.layer`'s plan, made on first use and again when its weights or gain change. */
  private planFor(step: DecodeLayerStep): LayerPlan | null {
    const l = step.layer;
    let e = this.plans.get(l);
    if (!e) {
      e = { names: layerModules(l), plan: null, ws: [] };
      this.plans.set(l, e);
    }
    const weights = this.runner.weights;
    let same = e.ws.length === e.names.length;
    for (let i = 0; same && i < e.names.length; i++) same = e.ws[i] === weights.get(e.names[i]);
    if (same && (e.plan === null || e.plan.postGain === step.postGain)) return e.plan;
    e.ws = e.names.map((n) => weights.get(n));
    e.plan = this.makePlan(e.ws, step);
    return e.plan;
  }

  private makePlan(found: (QWeight | undefined)[], step: DecodeLayerStep): LayerPlan | null {
    const k = quantKernels();
    if (!k.qdecodeLayerPlan || !k.qdecodeLayerScratch || found.some((w) => !w)) return null;
    const ws = found as QWeight[];
    const qkv = oneRun(ws.slice(0, 3));
    const gateUp = oneRun(ws.slice(4, 6));
    const { postGain, config: c } = step;
    if (!qkv || !gateUp || !f32(postGain)) return null;
    const handle = k.qdecodeLayerPlan(
      runArgs(qkv),
      runArgs(planRuns([ws[3]], true)[0]),
      runArgs(gateUp),
      runArgs(planRuns([ws[6]], true)[0]),
      postGain.data as Float32Array,
      postGain.offset,
      c.hiddenSize,
      c.intermediateSize,
      c.numHeads,
      c.numKvHeads,
      c.headDim,
      c.rmsNormEps,
      multipliers(c).residual,
      1 / Math.sqrt(c.headDim),
    );
    return { postGain, handle, scratch: k.qdecodeLayerScratch(handle) };
  }
}
