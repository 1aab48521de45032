/**
 * Fresh MiniCPM-V vision parameters (a tower trained from scratch, benchmarks): timm-style N(0, 0.02)
 * weights with zero biases and unit LayerNorm gains, the resampler's fixed 2-D sin-cos position table
 * (MAE's get_2d_sincos_pos_embed, as resampler.py builds it) and `proj` = E^−½ · N(0, 1).
 */
import { normal } from '../nn/init.js';
import { Rng, Tensor } from '../tensor/index.js';
import { MiniCPM } from './minicpm.js';
import { MiniCPMV, MiniCPMVLanguage } from './minicpmv.js';
import type { MiniCPMVConfig } from './minicpmv-config.js';
import { resamplerShapes } from './resampler.js';
import { siglipShapes } from './siglip.js';

/** MAE's 2-D sin-cos table [side², E] (row-major grid; sin then cos in each half). */
export function sinCosTable(side: number, E: number): Float32Array {
  const out = new Float32Array(side * side * E);
  const half = E / 2;
  const quarter = half / 2;
  for (let h = 0; h < side; h++)
    for (let w = 0; w < side; w++) {
      const row = (h * side + w) * E;
      // MAE stacks meshgrid(w, h): the first half encodes the column w, the second the row h.
      for (const [part, pos] of [
        [0, w],
        [1, h],
      ] as const) {
        for (let i = 0; i < quarter; i++) {
          const omega = 1 / Math.pow(10000, i / quarter);
          out[row + part * half + i] = Math.sin(pos * omega);
          out[row + part * half + quarter + i] = Math.cos(pos * omega);
        }
      }
    }
  return out;
}

export function initVisionParams(c: MiniCPMVConfig, rng: Rng, std = 0.02): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  const side = Math.round(Math.sqrt(c.queryNum));
  for (const [name, shape] of [...siglipShapes(c.vision), ...resamplerShapes(c)]) {
    let t: Tensor;
    if (name === 'resampler.pos_embed') t = Tensor.from(sinCosTable(side, c.embedDim), shape);
    else if (name === 'resampler.proj') t = normal(rng, shape, 1 / Math.sqrt(c.embedDim));
    else if (/(norm\d?|ln_\w+)\.weight$/.test(name)) t = Tensor.ones(shape);
    else if (name.endsWith('bias')) t = Tensor.zeros(shape);
    else t = normal(rng, shape, std);
    params.set(name, Tensor.parameter(t, name));
  }
  return params;
}

/** A MiniCPM-V around an existing language model (its parameters shared, not copied). */
export function buildMiniCPMV(c: MiniCPMVConfig, lm: MiniCPM, vision: Map<string, Tensor>): MiniCPMV {
  return new MiniCPMV(c, vision, new MiniCPMVLanguage(c.llm, lm.params, c.queryNum));
}
