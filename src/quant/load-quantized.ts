// GPTQ folders (AutoGPTQ `gptq` and GPTQModel `gptq_v2` checkpoint formats, 2/4/8 bits, any group size
// that is a multiple of 32, act-order, static groups, sharded safetensors, our own `minicpm quantize`
// output) loaded straight into quantized weights (qweight.ts) run by the int4/int8 kernels. Each layer's
// four tensors are read, repacked and dropped before the next is read, so the peak is the resident model
// plus one layer's stored tensors; no float copy of a quantized matrix exists at any moment.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { openWeights, readConfig, typedView, type TensorReader } from '../io/index.js';
import { configFromHF, type MiniCPMConfig } from '../models/config.js';
import { MiniCPM, parameterShapes } from '../models/minicpm.js';
import {
  assertSane,
  recordToBf16,
  recordToTensor,
  WeightsMismatchError,
  type LoadOptions,
} from '../models/weights.js';
import { Tensor } from '../tensor/index.js';
import { checkGptqBits } from './autogptq.js';
import { QuantFormatError } from './errors.js';
import { QuantizedLinears } from './qlinear.js';
import type { QWeight } from './qweight.js';
import { repackGptq } from './qweight-repack.js';
import { parseQuantizeConfig, type QuantizeConfig } from './quantize-config.js';

/** The folder's GPTQ settings, gptq_v2 accepted (config.json's quantization_config first), or null. */
export async function readQuantizeConfigAny(dir: string): Promise<QuantizeConfig | null> {
  const config = await readConfig(dir);
  if (config.quantization_config !== undefined)
    return parseQuantizeConfig(config.quantization_config, `${dir}/config.json quantization_config`, true);
  const file = path.join(dir, 'quantize_config.json');
  if (!fs.existsSync(file)) return null;
  return parseQuantizeConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file, true);
}

function tensorOf(reader: TensorReader, name: string, dtype: string, rank: number): ArrayBufferView {
  const info = reader.info(name);
  if (info.dtype !== dtype || info.shape.length !== rank) {
    throw new QuantFormatError(
      `${name} is ${info.dtype} [${info.shape.join(', ')}] but GPTQ needs a rank-${rank} ${dtype} tensor here`,
    );
  }
  return typedView(reader.readSync(name));
}

/** One GPTQ layer `module` [out, in] read and repacked into a QWeight. */
export function readGptqLayer(
  reader: TensorReader,
  module: string,
  qc: Pick<QuantizeConfig, 'bits' | 'checkpoint_format'>,
  shape: readonly number[],
): QWeight {
  const [out, cols] = shape;
  const missing = ['qweight', 'qzeros', 'scales', 'g_idx'].filter((s) => !reader.has(`${module}.${s}`));
  if (missing.length) {
    throw new QuantFormatError(
      `${reader.path}: ${module} has a qweight but no ${missing.join(', ')}: a GPTQ layer needs qweight, qzeros, scales and g_idx`,
    );
  }
  const per = 32 / qc.bits;
  const qwInfo = reader.info(`${module}.qweight`);
  if (qwInfo.shape.length !== 2 || qwInfo.shape[1] !== out || qwInfo.shape[0] * per !== cols) {
    throw new QuantFormatError(
      `${module}.qweight is [${qwInfo.shape.join(', ')}], but config.json makes the layer [${out}, ${cols}]: ` +
        `a ${qc.bits}-bit qweight must be [${cols / per}, ${out}]`,
    );
  }
  const scInfo = reader.info(`${module}.scales`);
  const groups = scInfo.shape[0];
  if (scInfo.shape.length !== 2 || scInfo.shape[1] !== out) {
    throw new QuantFormatError(`${module}.scales is [${scInfo.shape.join(', ')}], expected [groups, ${out}]`);
  }
  const qzInfo = reader.info(`${module}.qzeros`);
  if (qzInfo.shape.length !== 2 || qzInfo.shape[0] !== groups || qzInfo.shape[1] * per !== out) {
    throw new QuantFormatError(
      `${module}.qzeros is [${qzInfo.shape.join(', ')}], expected [${groups}, ${out / per}] to match scales`,
    );
  }
  const gInfo = reader.info(`${module}.g_idx`);
  if (gInfo.shape.length !== 1 || gInfo.shape[0] !== cols) {
    throw new QuantFormatError(`${module}.g_idx is [${gInfo.shape.join(', ')}], expected [${cols}]`);
  }
  return repackGptq(
    {
      qweight: tensorOf(reader, `${module}.qweight`, 'I32', 2) as Int32Array,
      qzeros: tensorOf(reader, `${module}.qzeros`, 'I32', 2) as Int32Array,
      scales: tensorOf(reader, `${module}.scales`, 'F16', 2) as Uint16Array,
      gIdx: tensorOf(reader, `${module}.g_idx`, 'I32', 1) as Int32Array,
      out,
      in: cols,
      groups,
    },
    qc.bits,
    qc.checkpoint_format === 'gptq_v2' ? 0 : 1,
    module,
  );
}

/** A parameter read straight into engine memory when stored in the wanted dtype (one copy, no transient). */
function readDense(reader: TensorReader, name: string, shape: number[], dtype: 'f32' | 'bf16'): Tensor {
  const stored = reader.info(name).dtype;
  if ((dtype === 'f32' && stored === 'F32') || (dtype === 'bf16' && stored === 'BF16')) {
    const t = Tensor.empty(shape, dtype);
    const d = t.data;
    reader.readIntoSync(
      name,
      new Uint8Array(d.buffer, d.byteOffset + t.offset * d.BYTES_PER_ELEMENT, t.size * d.BYTES_PER_ELEMENT),
    );
    return t;
  }
  const rec = reader.readSync(name);
  return dtype === 'bf16' ? recordToBf16(rec) : recordToTensor(rec);
}

/** Perms equal to an earlier one share its array (q/k/v and gate/up then run as one kernel call). */
function sharePerm(w: QWeight, seen: Int32Array[]): QWeight {
  const p = w.perm;
  if (!p) return w;
  const same = seen.find((s) => s.length === p.length && s.every((v, i) => v === p[i]));
  if (!same) {
    seen.push(p);
    return w;
  }
  return { ...w, perm: same };
}

/**
 * Loads a GPTQ folder into a MiniCPM whose quantized layers stay quantized (model.linearRunner). Other
 * tensors (embedding, norms, layers GPTQ left in floating point) load as parameters; `weightDtype` 'bf16'
 * keeps those 2-D ones in bf16.
 */
export async function loadQuantizedModel(dir: string, opts: LoadOptions = {}): Promise<MiniCPM> {
  const qc = await readQuantizeConfigAny(dir);
  if (!qc)
    throw new QuantFormatError(
      `${dir} has no quantize_config.json or quantization_config: not a GPTQ folder`,
    );
  const config = configFromHF(await readConfig(dir));
  const reader = await openWeights(dir);
  try {
    return gptqModelFromReader(config, qc, reader, opts);
  } finally {
    await reader.close();
  }
}

/**
 * The model of a GPTQ checkpoint already open (any TensorReader: a folder in Node, Blobs in the browser
 * page) with its parsed config and GPTQ settings; the caller closes the reader.
 */
export function gptqModelFromReader(
  config: MiniCPMConfig,
  qc: QuantizeConfig,
  reader: TensorReader,
  opts: LoadOptions = {},
): MiniCPM {
  checkGptqBits(reader.path, qc.bits);
  assertSane(config);
  const params = new Map<string, Tensor>();
  const quantized = new Map<string, QWeight>();
  const perms: Int32Array[] = [];
  for (const [name, shape] of parameterShapes(config)) {
    const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : null;
    if (module !== null && shape.length === 2 && reader.has(`${module}.qweight`) && !reader.has(name)) {
      quantized.set(module, sharePerm(readGptqLayer(reader, module, qc, shape), perms));
      continue;
    }
    if (!reader.has(name)) {
      throw new WeightsMismatchError(
        `${reader.path} has neither ${name} nor a GPTQ ${module ?? name}.qweight: the checkpoint and config.json do not match`,
      );
    }
    const info = reader.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightsMismatchError(
        `config.json implies ${name} is [${shape.join(', ')}] but ${reader.path} has [${info.shape.join(', ')}]`,
      );
    }
    if (!['F32', 'BF16', 'F16', 'F64'].includes(info.dtype))
      throw new WeightsMismatchError(
        `${name} has dtype ${info.dtype}; expected a float type (F32, BF16, F16)`,
      );
    const dtype = opts.weightDtype === 'bf16' && shape.length === 2 ? 'bf16' : 'f32';
    const t = readDense(reader, name, shape, dtype);
    if (dtype === 'bf16') {
      t.keep().name = name;
      params.set(name, t);
    } else params.set(name, Tensor.parameter(t, name));
  }
  // An untied head quantized by GPTQ (lm_head.qweight) runs through the runner as module lm_head.
  const model = new MiniCPM(config, params);
  model.linearRunner = new QuantizedLinears(quantized, (m) => model.p(`${m}.weight`));
  return model;
}
