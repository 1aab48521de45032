// GPTQ checkpoints as Hugging Face folders in AutoGPTQ's layout: each quantized linear layer as
// `<module>.qweight/.qzeros/.scales/.g_idx`, everything else as ordinary tensors, the settings in
// quantize_config.json and in config.json's `quantization_config` (where transformers looks).
// Loading runs a folder's layers on the int4/int8 kernels (load-quantized.ts) where they have one. The
// dequantizing reader below wraps the folder's tensors so that every quantized layer appears as its
// dequantized `<module>.weight`: the GGUF exporter, `--dequantize` and the group sizes without a kernel
// read tensors by name through it, unchanged.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkInto,
  fromTypedArray,
  openWeights,
  readConfig,
  readGenerationConfig,
  saveFolder,
  type TensorInfo,
  type TensorReader,
  type TensorRecord,
  type TensorSource,
} from '../io/index.js';
import { tensorToRecord, type LoadOptions } from '../models/weights.js';
import { configToHF } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { isGgufPath } from '../models/gguf-load.js';
import { loadGgufModel } from './ggml-model.js';
import type { MiniCPM } from '../models/minicpm.js';
import { autogptqFromRecords, autogptqRecords, checkGptqBits, dequantizePacked } from './autogptq.js';
import { QuantFormatError } from './errors.js';
import { parseQuantizeConfig, type QuantizeConfig } from './quantize-config.js';
import { loadQuantizedModel, readQuantizeConfigAny } from './load-quantized.js';
import type { QuantizedModel } from './quantize-model.js';

/** Writes a quantized model (see quantizeModel) as an AutoGPTQ-style folder, atomically. */
export async function saveQuantizedModel(
  dir: string,
  q: QuantizedModel,
  opts: { tokenizerFrom?: string } = {},
): Promise<void> {
  const { model, packed, config } = q;
  const tensors: TensorSource[] = [];
  for (const [name, t] of model.params) {
    const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : null;
    const p = module !== null ? packed.get(module) : undefined;
    if (p) tensors.push(...autogptqRecords(module!, p));
    else tensors.push(tensorToRecord(name, t));
  }
  const generationConfig = (opts.tokenizerFrom
    ? await readGenerationConfig(opts.tokenizerFrom)
    : undefined) ?? {
    bos_token_id: model.config.bosTokenId,
    eos_token_id: model.config.eosTokenId,
  };
  await saveFolder(dir, {
    config: { ...configToHF(model.config), quantization_config: config },
    generationConfig,
    tensors,
    tokenizerFrom: opts.tokenizerFrom,
    extraJson: { 'quantize_config.json': config },
  });
}

/** The folder's GPTQ settings (config.json's quantization_config, else quantize_config.json), or null. */
export async function readQuantizeConfig(dir: string): Promise<QuantizeConfig | null> {
  const config = await readConfig(dir);
  if (config.quantization_config !== undefined)
    return parseQuantizeConfig(config.quantization_config, `${dir}/config.json quantization_config`);
  const file = path.join(dir, 'quantize_config.json');
  if (!fs.existsSync(file)) return null;
  return parseQuantizeConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
}

/** The folder's tensors, GPTQ layers read as dequantized `.weight`s when the folder is quantized. */
export async function openAnyWeights(dir: string): Promise<TensorReader> {
  const qc = await readQuantizeConfigAny(dir);
  const reader = await openWeights(dir);
  return qc ? dequantizingReader(reader, qc.bits, qc.checkpoint_format === 'gptq_v2' ? 0 : 1) : reader;
}


/**
 * Loads a model folder: a GPTQ one onto the int4/int8 kernels (its layers stay quantized; `dequantize`
 * loads them as float weights instead), or a float one, or a MiniCPM GGUF file.
 */
export async function loadAnyModel(
  dir: string,
  opts: LoadOptions & { dequantize?: boolean } = {},
): Promise<MiniCPM> {
  if (isGgufPath(dir)) return loadGgufModel(dir, opts);
  const qc = opts.dequantize ? null : await readQuantizeConfigAny(dir);
  if (qc) checkGptqBits(dir, qc.bits);
  if (qc && (qc.group_size === -1 || qc.group_size % 32 === 0)) return loadQuantizedModel(dir, opts);
  if (qc) {
    process.stderr.write(
      `${dir}: GPTQ group size ${qc.group_size} has no int4/int8 kernel (those run groups that are a multiple of 32): its layers run dequantized to ${opts.weightDtype ?? 'f32'}\n`,
    );
  }
  return loadModel(dir, opts, openAnyWeights);
}

const PACKED_SUFFIXES = ['.qweight', '.qzeros', '.scales', '.g_idx'];

/**
 * A view of a GPTQ checkpoint in which every `<module>.qweight` group reads as an F32 `<module>.weight`
 * [out, in] (dequantized as AutoGPTQ's kernels compute it) and the packed tensors are hidden.
 * `zeroOffset`: 1 for the `gptq` checkpoint format (qzeros hold zero − 1), 0 for `gptq_v2`.
 */
export function dequantizingReader(inner: TensorReader, bits: number, zeroOffset: 0 | 1 = 1): TensorReader {
  checkGptqBits(inner.path, bits);
  const modules = new Set(
    inner
      .names()
      .filter((n) => n.endsWith('.qweight'))
      .map((n) => n.slice(0, -'.qweight'.length)),
  );
  const moduleOf = (name: string): string | null => {
    if (!name.endsWith('.weight')) return null;
    const m = name.slice(0, -'.weight'.length);
    return modules.has(m) && !inner.has(name) ? m : null;
  };
  const isPacked = (name: string): boolean =>
    PACKED_SUFFIXES.some((s) => name.endsWith(s) && modules.has(name.slice(0, -s.length)));
  const dequantized = (module: string): TensorRecord => {
    const p = autogptqFromRecords(module, (n) => inner.readSync(n), bits);
    const w = dequantizePacked(p, zeroOffset);
    return fromTypedArray(`${module}.weight`, [p.out, p.in], w);
  };
  const info = (name: string): TensorInfo => {
    const m = moduleOf(name);
    if (m === null) return inner.info(name);
    const qw = inner.info(`${m}.qweight`);
    if (qw.shape.length !== 2)
      throw new QuantFormatError(`${m}.qweight is [${qw.shape.join(', ')}], expected [in·bits/32, out]`);
    const [words, out] = qw.shape;
    const cols = (words * 32) / bits;
    return { name, dtype: 'F32', shape: [out, cols], byteLength: out * cols * 4 };
  };
  const readSync = (name: string): TensorRecord => {
    const m = moduleOf(name);
    return m === null ? inner.readSync(name) : dequantized(m);
  };
  return {
    path: inner.path,
    names: () => [
      ...inner.names().filter((n) => !isPacked(n)),
      ...[...modules].map((m) => `${m}.weight`).filter((n) => !inner.has(n)),
    ],
    has: (name) => (inner.has(name) && !isPacked(name)) || moduleOf(name) !== null,
    info,
    read: (name) =>
      moduleOf(name) === null ? inner.read(name) : Promise.resolve().then(() => readSync(name)),
    readSync,
    readIntoSync(name, into) {
      if (moduleOf(name) === null) return inner.readIntoSync(name, into);
      checkInto(inner.path, info(name), into);
      into.set(readSync(name).data);
    },
    close: () => inner.close(),
  };
}
