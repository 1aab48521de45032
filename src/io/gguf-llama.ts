// Llama in GGUF (arch "llama"), as llama.cpp's convert_hf_to_gguf.py writes it (class LlamaModel): the
// metadata keys and their inverse. Tensor names and the q/k row permutation are the same as MiniCPM's
// (io/gguf-minicpm), because llama.cpp's MiniCPM converter is a LlamaModel with three extra multipliers.
// Key names checked against llama.cpp's gguf-py/gguf/constants.py (Keys.LLM / Attention / Rope).

import { CheckpointFormatError } from './errors.js';
import type { GgufFile } from './gguf.js';
import { GGUF_FILE_TYPE, tokenizerMetadata, TOKENIZER_KEYS, type GgufTokenizer } from './gguf-minicpm.js';
import { gv, type GgufValue } from './gguf-types.js';

export const LLAMA_ARCH = 'llama';
const GGML_QUANT_VERSION = 2;

export const LLAMA_KEYS = {
  architecture: 'general.architecture',
  name: 'general.name',
  fileType: 'general.file_type',
  quantizationVersion: 'general.quantization_version',
  vocabSize: 'llama.vocab_size',
  contextLength: 'llama.context_length',
  embeddingLength: 'llama.embedding_length',
  blockCount: 'llama.block_count',
  feedForwardLength: 'llama.feed_forward_length',
  ropeDimensionCount: 'llama.rope.dimension_count',
  ropeFreqBase: 'llama.rope.freq_base',
  ropeScalingType: 'llama.rope.scaling.type',
  ropeScalingFactor: 'llama.rope.scaling.factor',
  headCount: 'llama.attention.head_count',
  headCountKv: 'llama.attention.head_count_kv',
  keyLength: 'llama.attention.key_length',
  valueLength: 'llama.attention.value_length',
  rmsEps: 'llama.attention.layer_norm_rms_epsilon',
} as const;

/** The Hugging Face LlamaConfig fields a llama GGUF holds (as in config.json). */
export interface LlamaHfConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_scaling?: { type: 'linear'; factor: number } | null;
}

/** A llama GGUF whose metadata asks for something our Llama forward pass does not do. */
export class GgufLlamaMetadataError extends CheckpointFormatError {
  override name = 'GgufLlamaMetadataError';
}

/** Metadata for a Llama GGUF, in the order llama.cpp's converter writes it. */
export function llamaGgufMetadata(
  c: LlamaHfConfig,
  opts: { name?: string; fileType?: number; tokenizer?: GgufTokenizer } = {},
): Map<string, GgufValue> {
  const K = LLAMA_KEYS;
  const m = new Map<string, GgufValue>();
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  m.set(K.architecture, gv.string(LLAMA_ARCH));
  if (opts.name !== undefined) m.set(K.name, gv.string(opts.name));
  m.set(K.vocabSize, gv.uint32(c.vocab_size));
  m.set(K.contextLength, gv.uint32(c.max_position_embeddings));
  m.set(K.embeddingLength, gv.uint32(c.hidden_size));
  m.set(K.blockCount, gv.uint32(c.num_hidden_layers));
  m.set(K.feedForwardLength, gv.uint32(c.intermediate_size));
  m.set(K.ropeDimensionCount, gv.uint32(headDim));
  m.set(K.headCount, gv.uint32(c.num_attention_heads));
  m.set(K.headCountKv, gv.uint32(c.num_key_value_heads ?? c.num_attention_heads));
  m.set(K.ropeFreqBase, gv.float32(c.rope_theta ?? 10000));
  m.set(K.rmsEps, gv.float32(c.rms_norm_eps));
  // llama.cpp takes the head size from these keys when they are present (n_embd / n_head otherwise).
  if (headDim !== c.hidden_size / c.num_attention_heads) {
    m.set(K.keyLength, gv.uint32(headDim));
    m.set(K.valueLength, gv.uint32(headDim));
  }
  if (c.rope_scaling) {
    m.set(K.ropeScalingType, gv.string('linear'));
    m.set(K.ropeScalingFactor, gv.float32(c.rope_scaling.factor));
  }
  m.set(K.fileType, gv.uint32(opts.fileType ?? GGUF_FILE_TYPE.F32));
  m.set(K.quantizationVersion, gv.uint32(GGML_QUANT_VERSION));
  if (opts.tokenizer) for (const [k, v] of tokenizerMetadata(opts.tokenizer)) m.set(k, v);
  return m;
}

/** The shortest decimal that is the same float32 (1e-5 comes back as 1e-5, not 9.99999974737875e-6). */
function f32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/**
 * A config.json (model_type "llama") rebuilt from a llama GGUF. Metadata our forward pass cannot honour
 * (a rope that is not the whole head, YaRN or other rope scaling) is a GgufLlamaMetadataError.
 */
export function llamaHfConfigFromGguf(file: GgufFile): LlamaHfConfig & { model_type: 'llama' } {
  const K = LLAMA_KEYS;
  const arch = file.getString(K.architecture);
  if (arch !== LLAMA_ARCH)
    throw new GgufLlamaMetadataError(
      file.path,
      `general.architecture is '${arch}', expected '${LLAMA_ARCH}'`,
    );
  const hidden = file.getNumber(K.embeddingLength);
  const heads = file.getNumber(K.headCount);
  const headDim = file.has(K.keyLength) ? file.getNumber(K.keyLength) : hidden / heads;
  if (file.has(K.valueLength) && file.getNumber(K.valueLength) !== headDim)
    throw new GgufLlamaMetadataError(
      file.path,
      `${K.valueLength} ${file.getNumber(K.valueLength)} differs from the key length ${headDim}; only equal head sizes run here`,
    );
  if (file.has(K.ropeDimensionCount) && file.getNumber(K.ropeDimensionCount) !== headDim)
    throw new GgufLlamaMetadataError(
      file.path,
      `${K.ropeDimensionCount} ${file.getNumber(K.ropeDimensionCount)} is not the head size ${headDim}; partial rotary embeddings do not run here`,
    );
  let rope_scaling: LlamaHfConfig['rope_scaling'] = null;
  const scaling = file.has(K.ropeScalingType) ? file.getString(K.ropeScalingType) : 'none';
  if (scaling === 'linear')
    rope_scaling = { type: 'linear', factor: f32Decimal(file.getNumber(K.ropeScalingFactor)) };
  else if (scaling !== 'none')
    throw new GgufLlamaMetadataError(
      file.path,
      `${K.ropeScalingType} '${scaling}' is not supported (none or linear run here)`,
    );
  if (file.tensors.some((t) => t.name === 'rope_freqs.weight'))
    throw new GgufLlamaMetadataError(
      file.path,
      "the file has a 'rope_freqs.weight' tensor (Llama 3.1 rope frequency factors), which does not run here",
    );
  const out: LlamaHfConfig & { model_type: 'llama' } = {
    model_type: 'llama',
    vocab_size: file.has(K.vocabSize)
      ? file.getNumber(K.vocabSize)
      : file.getStringArray(TOKENIZER_KEYS.tokens).length,
    hidden_size: hidden,
    intermediate_size: file.getNumber(K.feedForwardLength),
    num_hidden_layers: file.getNumber(K.blockCount),
    num_attention_heads: heads,
    num_key_value_heads: file.has(K.headCountKv) ? file.getNumber(K.headCountKv) : heads,
    max_position_embeddings: file.getNumber(K.contextLength),
    rms_norm_eps: f32Decimal(file.getNumber(K.rmsEps)),
    rope_theta: file.has(K.ropeFreqBase) ? f32Decimal(file.getNumber(K.ropeFreqBase)) : 10000,
    rope_scaling,
  };
  if (headDim !== hidden / heads) out.head_dim = headDim;
  return out;
}
