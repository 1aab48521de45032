/**
 * The frozen base of a LoRA run in the precision it is held in: f32, bf16, or int8/int4 (QLoRA). The
 * quantized bases are made at load from the bf16 weights (SPEC's per-32 min-max quantizer), one matrix at
 * a time, and run on the quantized kernels; gradients reach the input through them (quant/qlinear.ts).
 */
import { loadModel } from '../models/load.js';
import type { MiniCPM } from '../models/minicpm.js';
import { QuantizedLinears } from '../quant/qlinear.js';
import type { QWeight } from '../quant/qweight.js';
import { quantizeToQWeight } from '../quant/qweight-quantize.js';
import { AlignError } from './errors.js';

export const LORA_BASE_DTYPES = ['f32', 'bf16', 'int8', 'int4'] as const;
export type LoraBaseDtype = (typeof LORA_BASE_DTYPES)[number];

export function checkLoraBase(v: string): LoraBaseDtype {
  if (!(LORA_BASE_DTYPES as readonly string[]).includes(v))
    throw new AlignError(`--lora-base must be one of ${LORA_BASE_DTYPES.join(', ')}, got "${v}"`);
  return v as LoraBaseDtype;
}

/**
 * Replaces every decoder linear whose input width is a multiple of 32 by its `bits` quantization, run by
 * model.linearRunner; returns how many were quantized (the others stay as they are).
 */
export function quantizeLinears(model: MiniCPM, bits: 4 | 8): number {
  const weights = new Map<string, QWeight>();
  for (const [name, t] of [...model.params]) {
    const m = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj)\.weight$/.exec(name);
    if (!m || t.rank !== 2 || t.shape[1] % 32 !== 0 || !t.isContiguous()) continue;
    const data = (t.data as Float32Array | Uint16Array).subarray(t.offset, t.offset + t.size);
    weights.set(m[1], quantizeToQWeight(data, t.shape[0], t.shape[1], bits, t.dtype === 'bf16', name));
    model.params.delete(name);
    t.dispose();
  }
  model.linearRunner = new QuantizedLinears(weights, (m) => model.p(`${m}.weight`));
  return weights.size;
}

/** The model folder `dir` as a LoRA base held in `dtype`. */
export async function loadLoraBase(dir: string, dtype: LoraBaseDtype): Promise<MiniCPM> {
  const model = await loadModel(dir, { weightDtype: dtype === 'f32' ? 'f32' : 'bf16' });
  if (dtype === 'int8' || dtype === 'int4') quantizeLinears(model, dtype === 'int8' ? 8 : 4);
  return model;
}
