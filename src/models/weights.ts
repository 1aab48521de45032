/**
 * Moving weights between checkpoint records (io/) and model parameters, with the checks that turn a
 * mismatched checkpoint into a clear message instead of garbage.
 */
import { bf16ToF32, f16ToF32, f32ToBf16, Tensor } from '../tensor/index.js';
import { toFloat32, typedView, type TensorRecord } from '../io/dtypes.js';
import type { TensorReader } from '../io/tensor-source.js';
import { ConfigError, type MiniCPMConfig } from './config.js';
import { MiniCPM, parameterShapes } from './minicpm.js';

export class WeightsMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsMismatchError';
  }
}

/**
 * A checkpoint record as an f32 tensor (bf16/f16/f64 decoded exactly), in memory from the engine's
 * allocator (see readParameter for why that matters).
 */
export function recordToTensor(rec: TensorRecord): Tensor {
  const t = Tensor.empty(rec.shape, 'f32');
  const out = t.data as Float32Array;
  if (rec.dtype === 'BF16' || rec.dtype === 'F16') {
    const bits = typedView(rec) as Uint16Array;
    const dec = rec.dtype === 'BF16' ? bf16ToF32 : f16ToF32;
    for (let i = 0; i < bits.length; i++) out[i] = dec(bits[i]);
  } else out.set(toFloat32(rec));
  return t;
}

/** The bytes under a contiguous tensor, for filling it in place. */
function bytesOf(t: Tensor): Uint8Array {
  const d = t.data;
  const width = d.BYTES_PER_ELEMENT;
  return new Uint8Array(d.buffer, d.byteOffset + t.offset * width, t.size * width);
}

/**
 * Parameter `name` as a tensor of `dtype` in memory from the engine's allocator: 64-byte aligned and,
 * on Linux, backed by huge pages, where the GEMV that streams each weight once per decoded token ran
 * ~10% faster than over the 16-byte aligned, 4 KiB-paged buffer a plain file read returns. A tensor
 * stored in the wanted dtype is read straight into place, so a load never holds two copies of it.
 */
function readParameter(reader: TensorReader, name: string, shape: number[], dtype: 'f32' | 'bf16'): Tensor {
  const stored = reader.info(name).dtype;
  if ((dtype === 'f32' && stored === 'F32') || (dtype === 'bf16' && stored === 'BF16')) {
    const t = Tensor.empty(shape, dtype);
    reader.readIntoSync(name, bytesOf(t));
    return t;
  }
  const rec = reader.readSync(name);
  return dtype === 'bf16' ? recordToBf16(rec) : recordToTensor(rec);
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

/** A checkpoint record as a bf16 tensor (raw bits when the file is bf16, else rounded to nearest even). */
export function recordToBf16(rec: TensorRecord): Tensor {
  const t = Tensor.empty(rec.shape, 'bf16');
  const bits = t.data as Uint16Array;
  if (rec.dtype === 'BF16') bits.set(typedView(rec) as Uint16Array);
  else {
    const f = toFloat32(rec);
    for (let i = 0; i < f.length; i++) bits[i] = f32ToBf16(f[i]);
  }
  return t;
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
    if (opts.weightDtype === 'bf16' && shape.length === 2) {
      const t = readParameter(reader, name, shape, 'bf16').keep();
      t.name = name;
      params.set(name, t);
    } else params.set(name, Tensor.parameter(readParameter(reader, name, shape, 'f32'), name));
  }
  return new MiniCPM(config, params);
}

/** Guards against configs whose sizes cannot be real (a typo'd config.json). */
export function assertSane(config: MiniCPMConfig): void {
  if (config.vocabSize > 10_000_000 || config.hiddenSize > 65536) {
    throw new ConfigError(`config sizes look wrong (vocab ${config.vocabSize}, hidden ${config.hiddenSize})`);
  }
}
