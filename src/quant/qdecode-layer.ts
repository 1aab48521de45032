// A quantized model's decoder layers for one token of one sequence as native calls
// (native/src/qdecode-layer.h): per layer q/k/v, RoPE + KV append + attention, o, residual + norm, gate/up,
// SwiGLU, down, residual + next norm. Op by op that is nine addon calls a layer with JavaScript between
// them, and that JavaScript runs mostly on cache misses (each token's weight stream evicts what it touches).
// MiniCPM.forward asks for the whole token first (runToken: the first norm, every layer, the logit scale
// and a quantized head in one call), MiniCPM.hidden for every layer in one call (runAll: no JavaScript
// between layers, ~85 µs a layer on the 2B-wide W4 model), then for each layer in one call (run), then
// runs the ops. The kernels are the per-op path's, in the same order, so logits and cache are the same
// bits; the ops stay for whatever this declines (a layer with a weight kept in float, q/k/v or gate/up in
// more than one call, an int8 or batched cache, no addon; the whole token also needs a quantized head).
import { quantKernels, type QDecodePlan, type QRunArgs } from '../backends/quant.js';
import { multipliers } from '../models/config.js';
import type { DecodeLayerStep, DecodeStackStep, DecodeTokenStep } from '../models/minicpm.js';
import type { MiniCPMConfig } from '../models/config.js';
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

const runArgs = (r: QRun): QRunArgs => [r.bits, r.perm, r.codes, r.scales, r.zeros, r.ns, r.sym];

/** One call's worth of weights when they make exactly one run, else null. */
function oneRun(ws: QWeight[]): QRun | null {
  const runs = planRuns(ws, true);
  return runs.length === 1 ? runs[0] : null;
}

const f32 = (t: Tensor): boolean => t.dtype === 'f32' && t.isContiguous();
const data = (t: Tensor): Float32Array => t.data as Float32Array;

/** Fresh sum and norm shaped as x for a kernel call to fill; null (both released) where it declined. */
function filled(x: Tensor, fill: (sum: Tensor, norm: Tensor) => boolean): ResidualNorm | null {
  const sum = Tensor.empty(x.shape);
  const norm = Tensor.empty(x.shape);
  if (fill(sum, norm)) return { sum, norm };
  sum.dispose();
  norm.dispose();
  return null;
}

/** A contiguous tensor's elements as an array starting at index 0 (the array itself where it does). */
function fromZero(t: Tensor): Tensor['data'] {
  return t.offset === 0 && t.data.length === t.size ? t.data : t.data.subarray(t.offset, t.offset + t.size);
}

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
  /** Floats qdecodeLayers and qdecodeToken need for the current plans (0: not yet asked). */
  private stackScratch = 0;
  private tokenScratch = 0;
  /** The per-token argument arrays of qdecodeLayers, refilled in place. */
  private readonly handles: QDecodePlan[] = [];
  private readonly gains: Float32Array[] = [];
  private readonly kCaches: (Uint16Array | Float32Array)[] = [];
  private readonly vCaches: (Uint16Array | Float32Array)[] = [];
  /** qdecodeToken's head: the runner's lm_head weight and its run. */
  private head: { w: QWeight; args: QRunArgs; out: number } | null = null;

  constructor(private readonly runner: { readonly weights: Map<string, QWeight> }) {}

  run(step: DecodeLayerStep): ResidualNorm | null {
    const k = quantKernels();
    if (!k.qdecodeLayer) return null;
    const { x, xn, nextGain, cos, sin, cache } = step;
    if (!f32(x) || !f32(xn) || !f32(nextGain) || !f32(cos) || !f32(sin)) return null;
    const plan = this.planFor(step.config, step.layer, step.postGain);
    if (!plan) return null;
    const slot = cache.decodeSlot(step.layer);
    if (!slot) return null;
    const kc = slot.k.data as Uint16Array | Float32Array;
    const vc = slot.v.data as Uint16Array | Float32Array;
    this.reserve(plan.scratch);
    const qdecodeLayer = k.qdecodeLayer.bind(k);
    return filled(x, (sum, norm) =>
      qdecodeLayer(
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
      ),
    );
  }

  /** Every layer for one token in one call (LinearRunner.decodeLayers), or null where one declines. */
  runAll(step: DecodeStackStep): ResidualNorm | null {
    const k = quantKernels();
    if (!k.qdecodeLayers || !k.qdecodeLayersScratch) return null;
    const { x, xn } = step;
    if (!f32(xn)) return null;
    const a = this.stackArgs(step);
    if (!a) return null;
    if (this.stackScratch === 0) this.stackScratch = k.qdecodeLayersScratch(this.handles);
    this.reserve(this.stackScratch);
    const qdecodeLayers = k.qdecodeLayers.bind(k);
    return filled(x, (sum, norm) =>
      qdecodeLayers(
        this.handles,
        data(x),
        x.offset,
        data(xn),
        xn.offset,
        this.gains,
        a.pos,
        this.kCaches,
        this.vCaches,
        data(a.cos),
        a.cos.offset,
        data(a.sin),
        a.sin.offset,
        data(sum),
        sum.offset,
        data(norm),
        norm.offset,
        this.scratch,
        0,
      ),
    );
  }

  /**
   * The whole token, first norm to logits [1, 1, V], in one call (LinearRunner.decodeToken), or null where
   * the head is not quantized or the layers decline.
   */
  runToken(step: DecodeTokenStep): Tensor | null {
    const k = quantKernels();
    const head = this.headRun();
    if (!k.qdecodeToken || !k.qdecodeTokenScratch || !head) return null;
    const { x, firstGain } = step;
    if (!f32(firstGain)) return null;
    const a = this.stackArgs(step);
    if (!a) return null;
    if (this.tokenScratch === 0) this.tokenScratch = k.qdecodeTokenScratch(this.handles);
    this.reserve(this.tokenScratch);
    const logits = Tensor.empty([1, 1, head.out]);
    const done = k.qdecodeToken(
      this.handles,
      data(x),
      x.offset,
      data(firstGain),
      firstGain.offset,
      this.gains,
      a.pos,
      this.kCaches,
      this.vCaches,
      data(a.cos),
      a.cos.offset,
      data(a.sin),
      a.sin.offset,
      step.logitScale,
      head.args,
      data(logits),
      logits.offset,
      this.scratch,
      0,
    );
    if (done) return logits;
    logits.dispose();
    return null;
  }

  /** The head's call arguments (the runner's lm_head weight as one run), kept while that weight stays. */
  private headRun(): { args: QRunArgs; out: number } | null {
    const w = this.runner.weights.get('lm_head');
    if (!w) return null;
    if (this.head?.w !== w) this.head = { w, args: runArgs(planRuns([w], true)[0]), out: w.out };
    return this.head;
  }

  private reserve(floats: number): void {
    if (this.scratch.length < floats) this.scratch = new Float32Array(floats);
  }

  /**
   * Fills the per-token argument arrays of the stack (plans, next gains, caches) for `step`; returns the
   * position and RoPE tables, or null where a layer cannot be fused or an operand is not plain f32.
   */
  private stackArgs(step: Omit<DecodeStackStep, 'xn'>): { pos: number; cos: Tensor; sin: Tensor } | null {
    const { config: c, x, cos, sin, cache, postGains, nextGains } = step;
    if (!f32(x) || !f32(cos) || !f32(sin)) return null;
    const n = c.numLayers;
    const { handles, gains, kCaches, vCaches } = this;
    handles.length = gains.length = kCaches.length = vCaches.length = n;
    for (let l = 0; l < n; l++) {
      const plan = this.planFor(c, l, postGains[l]);
      const g = nextGains[l];
      if (!plan || !f32(g)) return null;
      handles[l] = plan.handle;
      gains[l] = fromZero(g) as Float32Array;
    }
    let pos = -1;
    for (let l = 0; l < n; l++) {
      const slot = cache.decodeSlot(l);
      if (!slot) return null;
      pos = slot.pos;
      kCaches[l] = fromZero(slot.k) as Uint16Array | Float32Array;
      vCaches[l] = fromZero(slot.v) as Uint16Array | Float32Array;
    }
    return { pos, cos, sin };
  }

  /** Layer l's plan, made on first use and again when its weights or gain change. */
  private planFor(c: MiniCPMConfig, l: number, postGain: Tensor): LayerPlan | null {
    let e = this.plans.get(l);
    if (!e) {
      e = { names: layerModules(l), plan: null, ws: [] };
      this.plans.set(l, e);
    }
    const weights = this.runner.weights;
    let same = e.ws.length === e.names.length;
    for (let i = 0; same && i < e.names.length; i++) same = e.ws[i] === weights.get(e.names[i]);
    if (same && (e.plan === null || e.plan.postGain === postGain)) return e.plan;
    e.ws = e.names.map((n) => weights.get(n));
    e.plan = this.makePlan(e.ws, c, postGain);
    this.stackScratch = this.tokenScratch = 0; // the set of plans changed
    return e.plan;
  }

  private makePlan(found: (QWeight | undefined)[], c: MiniCPMConfig, postGain: Tensor): LayerPlan | null {
    const k = quantKernels();
    if (!k.qdecodeLayerPlan || !k.qdecodeLayerScratch || found.some((w) => !w)) return null;
    const ws = found as QWeight[];
    const qkv = oneRun(ws.slice(0, 3));
    const gateUp = oneRun(ws.slice(4, 6));
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
