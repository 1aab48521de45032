/**
 * MiniCPM → GGUF for llama.cpp (arch "minicpm"): metadata from io/gguf-minicpm, tensors renamed and q/k
 * permuted for llama.cpp's rope, matrices in the chosen float type and 1-D gains always in F32 (as
 * llama.cpp's converter writes them). Tensors are produced one at a time, so exporting a checkpoint
 * folder never holds the whole model in memory.
 */
import { castFloat, type TensorRecord } from '../io/dtypes.js';
import {
  GGUF_FILE_TYPE,
  hfTensorToGguf,
  hfToGgufName,
  minicpmGgufMetadata,
  type GgufTokenizer,
  type MiniCpmHfConfig,
} from '../io/gguf-minicpm.js';
import { gv, type GgufValue } from '../io/gguf-types.js';
import { writeGguf } from '../io/gguf-writer.js';
import { openWeights, readConfig } from '../io/hf-folder.js';
import type { LazyTensor, TensorReader } from '../io/tensor-source.js';
import { ConfigError, configFromHF, type MiniCPMConfig } from './config.js';
import type { MiniCPM } from './minicpm.js';
import { parameterShapes } from './minicpm.js';
import { tensorToRecord } from './weights.js';

export type GgufExportDType = 'f32' | 'f16' | 'bf16';

export interface GgufExportOptions {
  /** Float type of the 2-D weights (default f32); norms stay F32. */
  dtype?: GgufExportDType;
  /** Vocabulary to embed (llama.cpp needs one; see tokenizer/gguf-export). */
  tokenizer?: GgufTokenizer & { addSpacePrefix?: boolean; removeExtraWhitespaces?: boolean };
  name?: string;
  /** Opens the folder's tensors for exportFolderToGguf (default io's openWeights; e.g. a dequantizing view). */
  openReader?: (dir: string) => Promise<TensorReader>;
}

const DTYPE = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;
const FILE_TYPE = { f32: GGUF_FILE_TYPE.F32, f16: GGUF_FILE_TYPE.F16, bf16: GGUF_FILE_TYPE.BF16 } as const;

/**
 * The Hugging Face fields the GGUF metadata needs, with llama.cpp's meaning of the three multipliers.
 * A Llama-type config (no μP) is written with multipliers that are 1: scale_emb 1, residual
 * scale_depth/√L = 1, logit divisor hidden/dim_model_base = 1.
 */
export function ggufHfConfig(c: MiniCPMConfig): MiniCpmHfConfig {
  if (c.headDim * c.numHeads !== c.hiddenSize) {
    throw new ConfigError(
      `head_dim ${c.headDim} × ${c.numHeads} heads ≠ hidden_size ${c.hiddenSize}: llama.cpp's minicpm arch cannot express it`,
    );
  }
  if (c.ropeScaling) {
    throw new ConfigError(
      `rope_scaling ${JSON.stringify(c.ropeScaling)} is not written to GGUF by this exporter: llama.cpp would run it unscaled`,
    );
  }
  const llama = c.modelType === 'llama';
  return {
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    scale_emb: llama ? 1 : c.scaleEmb,
    scale_depth: llama ? Math.sqrt(c.numLayers) : c.scaleDepth,
    dim_model_base: llama ? c.hiddenSize : c.dimModelBase,
  };
}

function convert(rec: TensorRecord, hf: MiniCpmHfConfig, dtype: GgufExportDType): TensorRecord {
  const cast = castFloat(rec, rec.shape.length === 1 ? 'F32' : DTYPE[dtype]);
  const out = hfTensorToGguf(cast, hf);
  if (!out) throw new Error(`tensor '${rec.name}' has no GGUF name`);
  return out;
}

function metadata(
  hf: MiniCpmHfConfig,
  dtype: GgufExportDType,
  opts: GgufExportOptions,
): Map<string, GgufValue> {
  const m = minicpmGgufMetadata(hf, {
    name: opts.name,
    fileType: FILE_TYPE[dtype],
    tokenizer: opts.tokenizer,
  });
  // SentencePiece normalizer flags llama.cpp reads (it assumes true for both when absent).
  const t = opts.tokenizer;
  if (t?.addSpacePrefix !== undefined) m.set('tokenizer.ggml.add_space_prefix', gv.bool(t.addSpacePrefix));
  if (t?.removeExtraWhitespaces !== undefined) {
    m.set('tokenizer.ggml.remove_extra_whitespaces', gv.bool(t.removeExtraWhitespaces));
  }
  return m;
}

/** One lazy GGUF tensor per parameter `names` (in checkpoint order), read through `read`. */
function lazyTensors(
  config: MiniCPMConfig,
  hf: MiniCpmHfConfig,
  dtype: GgufExportDType,
  read: (name: string) => TensorRecord | Promise<TensorRecord>,
): LazyTensor[] {
  const out: LazyTensor[] = [];
  for (const [name, shape] of parameterShapes(config)) {
    // parameterShapes has no lm_head when tied: llama.cpp then uses token_embd as the output.
    const ggufName = hfToGgufName(name);
    if (ggufName === undefined) continue;
    out.push({
      name: ggufName,
      dtype: shape.length === 1 ? 'F32' : DTYPE[dtype],
      shape,
      load: async () => convert(await read(name), hf, dtype).data,
    });
  }
  return out;
}

/** Write an in-memory model as a GGUF file llama.cpp loads. */
export async function exportModelToGguf(
  model: MiniCPM,
  path: string,
  opts: GgufExportOptions = {},
): Promise<void> {
  const dtype = opts.dtype ?? 'f32';
  const hf = ggufHfConfig(model.config);
  const meta = metadata(hf, dtype, opts);
  const tensors = lazyTensors(model.config, hf, dtype, (name) => tensorToRecord(name, model.p(name)));
  await writeGguf(path, meta, tensors);
}

/**
 * Convert a Hugging Face checkpoint folder to GGUF, streaming one tensor at a time (any weights format
 * io/ reads; a tied checkpoint's extra lm_head copy and rotary buffers are left out).
 */
export async function exportFolderToGguf(
  dir: string,
  path: string,
  opts: GgufExportOptions = {},
): Promise<MiniCPMConfig> {
  const dtype = opts.dtype ?? 'f32';
  const config = configFromHF(await readConfig(dir));
  const hf = ggufHfConfig(config);
  const reader = await (opts.openReader ?? openWeights)(dir);
  try {
    const shapes = parameterShapes(config);
    const missing = [...shapes.keys()].filter((n) => !reader.has(n));
    if (missing.length) {
      throw new ConfigError(
        `${dir}: checkpoint lacks ${missing.length} tensor(s) config.json needs, e.g. ${missing.slice(0, 3).join(', ')}`,
      );
    }
    for (const [n, shape] of shapes) {
      const got = reader.info(n).shape;
      if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
        throw new ConfigError(`${dir}: '${n}' has shape [${got}], config.json implies [${shape}]`);
      }
    }
    const meta = metadata(hf, dtype, opts);
    await writeGguf(
      path,
      meta,
      lazyTensors(config, hf, dtype, (name) => reader.read(name)),
    );
  } finally {
    await reader.close();
  }
  return config;
}
