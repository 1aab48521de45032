/**
 * openbmb/MiniCPM-V folders → MiniCPMV: config.json (minicpmvConfigFromHF) and weights in any format
 * io/ reads (safetensors, sharded or not, pytorch_model.bin), bf16 or f32 on disk. The language model is
 * read through a view that strips the `llm.` prefix, so the text model's loader and checks apply as is.
 */
import { openWeights, readConfig } from '../io/hf-folder.js';
import type { TensorReader } from '../io/tensor-source.js';
import { Tensor } from '../tensor/index.js';
import { MiniCPMV, MiniCPMVLanguage } from './minicpmv.js';
import { minicpmvConfigFromHF, type MiniCPMVConfig } from './minicpmv-config.js';
import { resamplerShapes } from './resampler.js';
import { siglipShapes } from './siglip.js';
import {
  assertSane,
  loadParameters,
  recordToBf16,
  recordToTensor,
  WeightsMismatchError,
  type LoadOptions,
} from './weights.js';

/** `reader` seen through a name prefix: `model.x` reads `llm.model.x`. */
export function prefixedReader(reader: TensorReader, prefix: string): TensorReader {
  const names = reader
    .names()
    .filter((n) => n.startsWith(prefix))
    .map((n) => n.slice(prefix.length));
  return {
    path: `${reader.path} (${prefix}*)`,
    names: () => names,
    has: (n) => reader.has(prefix + n),
    info: (n) => ({ ...reader.info(prefix + n), name: n }),
    read: (n) => reader.read(prefix + n),
    readSync: (n) => reader.readSync(prefix + n),
    readIntoSync: (n, into) => reader.readIntoSync(prefix + n, into),
    close: () => reader.close(),
  };
}

/**
 * The vision tower's and resampler's parameters. With weightDtype 'bf16' the Linear weights (2-D,
 * multiplied transposed) stay bf16; tables, norms, biases and `resampler.proj` (right-multiplied) are f32.
 */
export function loadVisionParameters(
  config: MiniCPMVConfig,
  reader: TensorReader,
  opts: LoadOptions = {},
): Map<string, Tensor> {
  const shapes = new Map([...siglipShapes(config.vision), ...resamplerShapes(config)]);
  const missing = [...shapes.keys()].filter((n) => !reader.has(n));
  if (missing.length) {
    throw new WeightsMismatchError(
      `${reader.path} lacks ${missing.length} vision/resampler tensor(s) the config needs, e.g. ${missing.slice(0, 3).join(', ')}: ` +
        'is this an openbmb/MiniCPM-V (1.0) checkpoint, and does vision_config match it?',
    );
  }
  const params = new Map<string, Tensor>();
  for (const [name, shape] of shapes) {
    const info = reader.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightsMismatchError(
        `the config implies ${name} is [${shape.join(', ')}] but ${reader.path} has [${info.shape.join(', ')}]: the checkpoint and config do not match`,
      );
    }
    if (!['F32', 'BF16', 'F16', 'F64'].includes(info.dtype))
      throw new WeightsMismatchError(
        `${name} has dtype ${info.dtype}; expected a float type (F32, BF16, F16)`,
      );
    const rec = reader.readSync(name);
    const linearWeight = shape.length === 2 && name.endsWith('weight') && !name.endsWith('pos_embed');
    if (opts.weightDtype === 'bf16' && linearWeight) {
      const t = recordToBf16(rec).keep();
      t.name = name;
      params.set(name, t);
    } else params.set(name, Tensor.parameter(recordToTensor(rec), name));
  }
  return params;
}

export function loadMiniCPMVFromReader(
  config: MiniCPMVConfig,
  reader: TensorReader,
  opts: LoadOptions = {},
): MiniCPMV {
  assertSane(config.llm);
  const text = loadParameters(config.llm, prefixedReader(reader, 'llm.'), opts);
  const llm = new MiniCPMVLanguage(config.llm, text.params, config.queryNum);
  return new MiniCPMV(config, loadVisionParameters(config, reader, opts), llm);
}

export async function loadMiniCPMV(dir: string, opts: LoadOptions = {}): Promise<MiniCPMV> {
  const config = minicpmvConfigFromHF(await readConfig(dir));
  const reader = await openWeights(dir);
  try {
    return loadMiniCPMVFromReader(config, reader, opts);
  } finally {
    await reader.close();
  }
}

/** Whether a config.json describes a MiniCPM-V model (so generic commands can route to this loader). */
export function isMiniCPMVConfig(json: Record<string, unknown>): boolean {
  return json.model_type === 'minicpmv' || 'query_num' in json || 'vision_encoder' in json;
}
