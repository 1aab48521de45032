/**
 * Moving weights between checkpoint records (io/) and model parameters, with the checks that turn a
 * mismatched checkpoint into a clear message instead of garbage.
 */
import { bf16ToF32, f16ToF32, f32ToBf16, Tensor } from '../tensor/index.js';
import { toFloat32, type TensorRecord } from '../io/dtypes.js';
import type { TensorReader } from '../io/tensor-source.js';
import { ConfigError, type MiniCPMConfig } from './config.js';
import { MiniCPM, parameterShapes } from './minicpm.js';

export class WeightsMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsMismatchError';
  }
}

/** A checkpoint record as an f32 tensor (bf16/f16/f64 decoded exactly). */
export function recordToTensor(rec: TensorRecord): Tensor {
  if (rec.dtype === 'BF16' || rec.dtype === 'F16') {
    const bits = new Uint16Array(
      rec.data.buffer.slice(rec.data.byteOffset, rec.data.byteOffset + rec.data.byteLength),
    );
    const out = new Float32Array(bits.length);
    const dec = rec.dtype === 'BF16' ? bf16ToF32 : f16ToF32;
    for (let i = 0; i < bits.length; i++) out[i] = dec(bits[i]);
    return Tensor.from(out, rec.shape);
  }
  return Tensor.from(toFloat32(rec), rec.shape);
}

/** A parameter as an f32 checkpoint record. */
export function tensorToRecord(name: string, t: Tensor): TensorRecord {
  const f =
    t.isContiguous() && t.dtype === 'f32'
      ? (t.data as Float32Array).slice(t.offset, t.offset + t.size)
      : Float32Array.from(t.toArray());
  return { name, dtype: 'F32', shape: [...t.shape], data: new Uint8Array(f.buffer) };
}

/**
 * Reads every parameter of `config` from `reader`. A tied checkpoint may omit lm_head.weight or carry
 * a copy; extra tensors (e.g. rotary buffers) are ignored, missing ones and wrong shapes are errors.
 */
export interface LoadOptions {
  /**
   * 'bf16' keeps every 2-D weight as bf16 (an f32 checkpoint is rounded to nearest even): half the
   * memory and bytes per decoded token, for inference only (bf16 weights cannot be trained).
   */
  weightDtype?: 'f32' | 'bf16';
}

/** A checkpoint record as a bf16 tensor (raw bits when the file is bf16). */
export function recordToBf16(rec: TensorRecord): Tensor {
  if (rec.dtype === 'BF16') {
    // View the record's bytes in place when aligned: a second copy of the largest tensor (the
    // embedding) would set the peak memory of a load.
    const d = rec.data;
    const bits =
      d.byteOffset % 2 === 0
        ? new Uint16Array(d.buffer, d.byteOffset, d.byteLength / 2)
        : new Uint16Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
    return Tensor.from(bits, rec.shape, 'bf16');
  }
  const f = toFloat32(rec);
  const bits = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) bits[i] = f32ToBf16(f[i]);
  return Tensor.from(bits, rec.shape, 'bf16');
}

export function loadParameters(config: MiniCPMConfig, reader: TensorReader, opts: LoadOptions = {}): MiniCPM {
  const shapes = parameterShapes(config);
  const params = new Map<string, Tensor>();
  const missing = [...shapes.keys()].filter((n) => !reader.has(n));
  if (missing.length) {
    throw new WeightsMismatchError(
      `${reader.path} lacks ${missing.length} tensor(s) the config needs, e.g. ${missing.slice(0, 3).join(', ')}: ` +
        'the checkpoint and config.json do not match (wrong num_hidden_layers or tie_word_embeddings?)',
    );
  }
  for (const [name, shape] of shapes) {
    const info = reader.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightsMismatchError(
        `config.json implies ${name} is [${shape.join(', ')}] but ${reader.path} has [${info.shape.join(', ')}]: the checkpoint and config do not match`,
      );
    }
    if (!['F32', 'BF16', 'F16', 'F64'].includes(info.dtype)) {
      throw new WeightsMismatchError(
        `${name} has dtype ${info.dtype}; expected a float type (F32, BF16, F16)`,
      );
    }
    const rec = reader.readSync(name);
    if (opts.weightDtype === 'bf16' && shape.length === 2) {
      const t = recordToBf16(rec).keep();
      t.name = name;
      params.set(name, t);
    } else params.set(name, Tensor.parameter(recordToTensor(rec), name));
  }
  return new MiniCPM(config, params);
}

/** Guards against configs whose sizes cannot be real (a typo'd config.json). */
export function assertSane(config: MiniCPMConfig): void {
  if (config.vocabSize > 10_000_000 || config.hiddenSize > 65536) {
    throw new ConfigError(`config sizes look wrong (vocab ${config.vocabSize}, hidden ${config.hiddenSize})`);
  }
}
