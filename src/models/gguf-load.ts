/**
 * GGUF files as models: a MiniCPM or Llama GGUF (arch "minicpm" or "llama", as llama.cpp's converter and
 * our exporter write them; the two share tensor names and the q/k permutation) read through the TensorReader interface
 * under Hugging Face names, with q/k rows put back into rotate-half order, so loadParameters and every
 * other reader of checkpoints work unchanged.
 *
 * Tensor types: F32, F16 and BF16 are read as stored. Quantized tensors are read here only through
 * dequantization to F32 (Q8_0, Q4_0, Q4_K, Q6_K): the quant layer keeps Q8_0/Q4_0 matrices quantized
 * (W8/W4) and decides which tensors may take this path, and says so. Any other type is a
 * GgufTensorTypeError naming the tensor and the supported types.
 */
import fs from 'node:fs';
import { CheckpointFormatError } from '../io/errors.js';
import { checkInto, type TensorInfo, type TensorReader } from '../io/tensor-source.js';
import type { TensorRecord } from '../io/dtypes.js';
import { decodeGgmlBlocks, DECODABLE_GGML_TYPES } from '../io/gguf-blocks.js';
import {
  ggufTensorToHf,
  ggufToHfName,
  minicpmConfigFromGguf,
  MINICPM_ARCH,
  TOKENIZER_KEYS,
} from '../io/gguf-minicpm.js';
import { openGgufSync, type GgufFile, type GgufTensorInfo } from '../io/gguf.js';
import { LLAMA_ARCH, llamaHfConfigFromGguf } from '../io/gguf-llama.js';
import { configFromHF, type MiniCPMConfig } from './config.js';
import type { MiniCPM } from './minicpm.js';
import { assertSane, loadParameters, type LoadOptions } from './weights.js';

export const GGUF_PLAIN_TYPES = ['F32', 'F16', 'BF16'] as const;
export const GGUF_READABLE_TYPES = [...GGUF_PLAIN_TYPES, ...DECODABLE_GGML_TYPES];

/** A tensor whose ggml type we cannot run, or whose stored size disagrees with its type and shape. */
export class GgufTensorTypeError extends CheckpointFormatError {
  override name = 'GgufTensorTypeError';
  constructor(
    path: string,
    readonly tensorName: string,
    message: string,
  ) {
    super(path, `tensor '${tensorName}': ${message}`);
  }
}

/** True for a path that names a GGUF file (by extension or by its magic bytes). */
export function isGgufPath(p: string): boolean {
  if (p.endsWith('.gguf')) return true;
  try {
    if (!fs.statSync(p).isFile()) return false;
    const fd = fs.openSync(p, 'r');
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'GGUF';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** The model config a MiniCPM or Llama GGUF describes (tied when the file has no output.weight). */
export function configFromGguf(file: GgufFile): MiniCPMConfig {
  const arch = file.has('general.architecture') ? file.getString('general.architecture') : '(none)';
  if (arch !== MINICPM_ARCH && arch !== LLAMA_ARCH) {
    throw new CheckpointFormatError(
      file.path,
      `general.architecture is '${arch}'; only '${MINICPM_ARCH}' and '${LLAMA_ARCH}' GGUF files run here (our exports of MiniCPM and Llama models, and llama.cpp's conversions of them)`,
    );
  }
  const hf =
    arch === LLAMA_ARCH
      ? llamaHfConfigFromGguf(file)
      : { ...minicpmConfigFromGguf(file), model_type: 'minicpm' };
  const id = (k: string): number | undefined => (file.has(k) ? file.getNumber(k) : undefined);
  return configFromHF({
    ...hf,
    tie_word_embeddings: !file.tensors.some((t) => t.name === 'output.weight'),
    bos_token_id: id(TOKENIZER_KEYS.bosId) ?? 1,
    eos_token_id: id(TOKENIZER_KEYS.eosId) ?? 2,
  });
}

function unsupported(file: GgufFile, t: GgufTensorInfo): GgufTensorTypeError {
  return new GgufTensorTypeError(
    file.path,
    t.name,
    `ggml type ${t.typeName} is not supported; supported types are ${GGUF_READABLE_TYPES.join(', ')} ` +
      '(re-quantize the model to Q4_0, Q8_0 or Q4_K_M with llama-quantize, or convert it to F16)',
  );
}

/**
 * The file's tensors under Hugging Face names. Quantized tensors read as F32 (dequantized); `dequantized`
 * lists the names that did so, for the caller's report.
 */
export function ggufTensorReader(
  file: GgufFile,
  config: MiniCPMConfig,
): TensorReader & { dequantized: Set<string> } {
  const hfConfig = { num_attention_heads: config.numHeads, num_key_value_heads: config.numKvHeads };
  const byHf = new Map<string, GgufTensorInfo>();
  for (const t of file.tensors) {
    const hf = ggufToHfName(t.name);
    if (hf !== undefined) byHf.set(hf, t);
  }
  const dequantized = new Set<string>();
  const get = (name: string): GgufTensorInfo => {
    const t = byHf.get(name);
    if (!t)
      throw new CheckpointFormatError(
        file.path,
        `no tensor for '${name}' (GGUF files name it differently; is this a MiniCPM or Llama GGUF?)`,
      );
    return t;
  };
  const info = (name: string): TensorInfo => {
    const t = get(name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if ((GGUF_PLAIN_TYPES as readonly string[]).includes(t.typeName))
      return { name, dtype: t.dtype!, shape: [...t.shape], byteLength: t.byteSize };
    if ((DECODABLE_GGML_TYPES as readonly string[]).includes(t.typeName))
      return { name, dtype: 'F32', shape: [...t.shape], byteLength: n * 4 };
    throw unsupported(file, t);
  };
  const readSync = (name: string): TensorRecord => {
    const t = get(name);
    const i = info(name);
    const raw = file.readRawSync(t.name);
    let rec: TensorRecord;
    if (t.dtype) rec = { name: t.name, dtype: t.dtype, shape: [...t.shape], data: raw };
    else {
      const n = i.byteLength / 4;
      const f = decodeGgmlBlocks(t.typeName, raw, n);
      if (!f) throw unsupported(file, t);
      dequantized.add(name);
      rec = {
        name: t.name,
        dtype: 'F32',
        shape: [...t.shape],
        data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength),
      };
    }
    const out = ggufTensorToHf(rec, hfConfig);
    if (!out) throw new CheckpointFormatError(file.path, `tensor '${t.name}' has no Hugging Face name`);
    return out;
  };
  return {
    path: file.path,
    dequantized,
    names: () => [...byHf.keys()],
    has: (name) => byHf.has(name),
    info,
    readSync,
    read: (name) => Promise.resolve().then(() => readSync(name)),
    readIntoSync(name, into) {
      checkInto(file.path, info(name), into);
      into.set(readSync(name).data);
    },
    close: () => file.close(),
  };
}

export interface GgufLoadResult {
  model: MiniCPM;
  config: MiniCPMConfig;
  /** Count of tensors per ggml type in the file, e.g. { F32: 9, Q4_0: 14, Q8_0: 1 }. */
  types: Record<string, number>;
  /** Parameters that were dequantized to floating point on load. */
  dequantized: string[];
}

/** Load a MiniCPM GGUF with every weight in floating point (quantized tensors dequantized). */
export function loadGgufModelDense(path: string, opts: LoadOptions = {}): GgufLoadResult {
  const file = openGgufSync(path);
  try {
    const config = configFromGguf(file);
    assertSane(config);
    const reader = ggufTensorReader(file, config);
    const model = loadParameters(config, reader, opts);
    const types: Record<string, number> = {};
    for (const t of file.tensors) types[t.typeName] = (types[t.typeName] ?? 0) + 1;
    return { model, config, types, dequantized: [...reader.dequantized] };
  } finally {
    void file.close();
  }
}
