// Quantized linear layers in the forward pass: x [.., K] f32 times QWeights (qweight.ts) through the
// quantized matmul (native kernels, or the TypeScript twin when the addon is not built). Layers that
// share an input and a column permutation (q/k/v, gate/up) run as one call, one trip through the pool,
// and one buffer receives their outputs (handed out as views for one row, copied into contiguous
// tensors for several); a prefill-sized input (64 rows and more) runs them one call each instead.
// Inference only.

import { quantKernels, type QuantKernels } from '../backends/quant.js';
import {
  DTypeError,
  frozenLinear,
  isGradEnabled,
  linear,
  type ResidualNorm,
  ShapeError,
  Tensor,
} from '../tensor/index.js';
import type { DecodeLayerStep, DecodeStackStep, DecodeTokenStep, LinearRunner } from '../models/minicpm.js';
import { DecodeLayers } from './qdecode-layer.js';
import { planRuns, QPlan } from './qplan.js';
import { type QWeight, streamedBytes } from './qweight.js';
import { dequantizeRow } from './qweight-quantize.js';
import { qlinearInputGrad } from './qlinear-backward.js';

/** Rows from which fused layers run one weight per call (decode and small batches stay fused). */
const SEPARATE_FROM_ROWS = 64;

/**
 * x · Wᵢᵀ for quantized weights sharing x; one kernel call per run of weights with equal bits and perm
 * (`plan`: the same weights' kept plan).
 */
export function qlinears(
  x: Tensor,
  ws: readonly QWeight[],
  kernels: QuantKernels = quantKernels(),
  plan?: QPlan,
): Tensor[] {
  if (x.dtype !== 'f32') throw new DTypeError(`a quantized linear needs f32 activations, got ${x.dtype}`);
  const K = x.shape[x.rank - 1];
  for (const w of ws) {
    if (w.in !== K)
      throw new ShapeError(`quantized weight [${w.out}, ${w.in}] cannot take an input of width ${K}`);
  }
  const xc = x.isContiguous() ? x : x.contiguousCopy();
  const M = K > 0 ? xc.size / K : 0;
  const lead = x.shape.slice(0, -1);
  const outs: Tensor[] = [];
  // A prefill-sized input keeps the pool busy with one weight at a time: each gets its own output,
  // which saves copying a fused [M, Σn] block apart (~4.7 MB per q/k/v at 512 tokens, on one thread).
  const fuse = M < SEPARATE_FROM_ROWS;
  for (const run of plan ? plan.runs(fuse) : planRuns(ws, fuse)) {
    const { ns, total } = run;
    const y = Tensor.empty([...lead, total]);
    kernels.qmatmul(
      M,
      K,
      run.bits,
      xc.data as Float32Array,
      xc.offset,
      K,
      run.perm,
      run.codes,
      run.scales,
      run.zeros,
      ns,
      y.data as Float32Array,
      y.offset,
      total,
      run.sym,
    );
    if (ns.length === 1) outs.push(y);
    else if (M > 1) outs.push(...splitColumns(y, M, ns, lead));
    else {
      let at = 0;
      for (const n of ns) {
        outs.push(y.view([...lead, n], y.strides, y.offset + at));
        at += n;
      }
    }
  }
  if (xc !== x) xc.dispose();
  // Frozen weights: with a gradient wanted at x (QLoRA), dy · W is computed from the codes in backward.
  if (isGradEnabled() && x.requiresGrad)
    return outs.map((y, i) => frozenLinear(x, y, (dy) => qlinearInputGrad(dy, ws[i])));
  return outs;
}

/**
 * The column blocks of a fused multi-row output [M, Σn] as contiguous [M, n] tensors. Strided views
 * of them sent the ops that follow (swiglu, rope) to their reference loops: 17% of a 512-token W4
 * prefill's CPU went to a JS swiglu, where these row copies cost a memcpy of the output.
 */
function splitColumns(y: Tensor, M: number, ns: readonly number[], lead: number[]): Tensor[] {
  const total = ns.reduce((a, b) => a + b, 0);
  const Y = y.data as Float32Array;
  let at = 0;
  const outs = ns.map((n) => {
    const t = Tensor.empty([...lead, n]);
    const T = t.data as Float32Array;
    for (let m = 0; m < M; m++) {
      const src = y.offset + m * total + at;
      T.set(Y.subarray(src, src + n), t.offset + m * n);
    }
    at += n;
    return t;
  });
  y.dispose();
  return outs;
}

/**
 * The MiniCPM hook (model.linearRunner) over a map of module name → quantized weight. A group with some
 * layers kept in floating point (GPTQ leaves unpackable ones so) runs those through `linear` on `dense`.
 */
export class QuantizedLinears implements LinearRunner {
  /** The token embedding held as int8 rows (the tied head's W8, --head-dtype int8), or null. */
  embedding: QWeight | null = null;

  /** Kernel-call plans per group of modules, made on first use. */
  private readonly plans = new Map<string, QPlan>();
  /** Whole-layer decode plans (qdecode-layer.ts), made on first use. */
  private readonly layers = new DecodeLayers(this);

  constructor(
    readonly weights: Map<string, QWeight>,
    private readonly dense: (module: string) => Tensor,
  ) {}

  /** Embedding rows [.., d] for ids, dequantized from the int8 table; null when there is none. */
  embed(ids: Tensor): Tensor | null {
    const e = this.embedding;
    if (!e) return null;
    const x = Tensor.empty([...ids.shape, e.in]);
    const data = x.data as Float32Array;
    const list = ids.toArray();
    list.forEach((id, i) => {
      if (!(Number.isInteger(id) && id >= 0 && id < e.out))
        throw new ShapeError(`token id ${id} is outside the vocabulary [0, ${e.out})`);
      dequantizeRow(e, id, data, x.offset + i * e.in);
    });
    return x;
  }

  run(x: Tensor, modules: readonly string[]): Tensor[] | null {
    // a group of modules runs once per layer and token: its kernel-call arrays are kept (and checked
    // against the map, which may have been given another weight since, e.g. an int8 head)
    const key = modules.length === 1 ? modules[0] : modules.join('\n');
    const plan = this.plans.get(key);
    if (plan && plan.ws.every((w, i) => w === this.weights.get(modules[i])))
      return qlinears(x, plan.ws, undefined, plan);
    const ws = modules.map((m) => this.weights.get(m));
    if (ws.every((w) => w === undefined)) return null;
    if (ws.every((w) => w !== undefined)) {
      const p = new QPlan(ws);
      this.plans.set(key, p);
      return qlinears(x, ws, undefined, p);
    }
    return ws.map((w, i) => (w ? qlinears(x, [w])[0] : linear(x, this.dense(modules[i]))));
  }

  decodeLayer(step: DecodeLayerStep): ResidualNorm | null {
    return this.layers.run(step);
  }

  decodeLayers(step: DecodeStackStep): ResidualNorm | null {
    return this.layers.runAll(step);
  }

  decodeToken(step: DecodeTokenStep): Tensor | null {
    return this.layers.runToken(step);
  }

  /** Bytes a decoded token streams from them (symmetric weights' zeros left unread). */
  streamedBytes(): number {
    let n = 0;
    for (const w of this.weights.values()) n += streamedBytes(w);
    return n;
  }
}
