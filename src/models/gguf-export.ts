/**
 * MiniCPM → GGUF for llama.cpp (arch "minicpm", or "llama" for Llama models: io/gguf-minicpm and
 * io/gguf-llama hold the metadata of each), tensors renamed and q/k
 * permuted for llama.cpp's rope, matrices in the chosen type and 1-D gains always in F32 (as
 * llama.cpp's converter writes them). Tensors are produced one at a time, so exporting a checkpoint
 * folder never holds the whole model in memory.
 *
 * Quantized files (ggml's reference rounding, io/gguf-blocks): `q8_0` stores every matrix as Q8_0, as
 * llama.cpp's convert_hf_to_gguf.py --outtype q8_0 does (the embedding included). `q4_0` stores the
 * block matrices as Q4_0 and the embedding (tied: also the head) and an untied head as Q8_0, where
 * llama-quantize would write Q6_K: the tied matrix is the most sensitive one (SPEC §9), Q8_0 is the more
 * accurate of the two, and our engine runs Q8_0 natively (W8) while Q6_K needs dequantizing.
 * `headDtype: 'q6_k'` writes that table in Q6_K instead (io/gguf-q6k, byte-identical to ggml's
 * reference quantizer), as llama-quantize does: smaller files for llama.cpp. `q4_k_m` writes
 * llama-quantize's Q4_K_M mix (see q4kmType) with the ggml-exact Q4_K/Q6_K encoders. A
 * matrix whose rows are not a whole number of 32-value blocks falls back to F16, as llama.cpp's
 * converter does; `ggufTensorPlan` lists every choice so callers can report them.
 */
import { castFloat, toFloat32, type TensorRecord } from '../io/dtypes.js';
import { encodeQ4_0, encodeQ8_0, QK, QK_K } from '../io/gguf-blocks.js';
import { encodeQ4_K } from '../io/gguf-q4k.js';
import { encodeQ6_K } from '../io/gguf-q6k.js';
import { llamaGgufMetadata, type LlamaHfConfig } from '../io/gguf-llama.js';
import {
  GGUF_FILE_TYPE,
  hfTensorToGguf,
  hfToGgufName,
  minicpmGgufMetadata,
  type GgufHeads,
  type GgufTokenizer,
  type MiniCpmHfConfig,
} from '../io/gguf-minicpm.js';
import { gv, type GgufValue } from '../io/gguf-types.js';
import { writeGguf, type GgufTensorSource } from '../io/gguf-writer.js';
import { openWeights, readConfig } from '../io/hf-folder.js';
import type { TensorReader } from '../io/tensor-source.js';
import { ConfigError, configFromHF, multipliers, type MiniCPMConfig } from './config.js';
import type { MiniCPM } from './minicpm.js';
import { parameterShapes } from './minicpm.js';
import { tensorToRecord } from './weights.js';

export type GgufExportDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_k_m';
export const GGUF_EXPORT_DTYPES: readonly GgufExportDType[] = [
  'f32',
  'f16',
  'bf16',
  'q8_0',
  'q4_0',
  'q4_k_m',
];

/** general.architecture of the file: 'auto' writes Llama models as 'llama' and MiniCPMs as 'minicpm'. */
export type GgufExportArch = 'auto' | 'minicpm' | 'llama';
export const GGUF_EXPORT_ARCHS: readonly GgufExportArch[] = ['auto', 'minicpm', 'llama'];

export interface GgufExportOptions {
  /** Type of the 2-D weights (default f32); norms stay F32. */
  dtype?: GgufExportDType;
  /** Architecture to write (default 'auto'). */
  arch?: GgufExportArch;
  /** Type of the embedding/head in q4_0 and q8_0 files (default q8_0; q6_k as llama-quantize writes). */
  headDtype?: GgufHeadDType;
  /** Vocabulary to embed (llama.cpp needs one; see tokenizer/gguf-export). */
  tokenizer?: GgufTokenizer & { addSpacePrefix?: boolean; removeExtraWhitespaces?: boolean };
  name?: string;
  /** Opens the folder's tensors for exportFolderToGguf (default io's openWeights; e.g. a dequantizing view). */
  openReader?: (dir: string) => Promise<TensorReader>;
}

const FILE_TYPE = {
  f32: GGUF_FILE_TYPE.F32,
  f16: GGUF_FILE_TYPE.F16,
  bf16: GGUF_FILE_TYPE.BF16,
  q8_0: GGUF_FILE_TYPE.Q8_0,
  q4_0: GGUF_FILE_TYPE.Q4_0,
  q4_k_m: 15, // llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M
} as const;

export type GgufTensorType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

export type GgufHeadDType = 'q8_0' | 'q6_k';
export const GGUF_HEAD_DTYPES: readonly GgufHeadDType[] = ['q8_0', 'q6_k'];

export interface GgufTensorChoice {
  /** Hugging Face name of the parameter. */
  name: string;
  ggufName: string;
  shape: number[];
  type: GgufTensorType;
  /** Why the tensor is not in the file's main type (a fallback or the embedding/head rule). */
  note?: string;
}

/** The ggml type of every tensor an export with `dtype` writes, in checkpoint order. */
export function ggufTensorPlan(
  config: MiniCPMConfig,
  dtype: GgufExportDType,
  headDtype: GgufHeadDType = 'q8_0',
): GgufTensorChoice[] {
  const out: GgufTensorChoice[] = [];
  for (const [name, shape] of parameterShapes(config)) {
    // parameterShapes has no lm_head when tied: llama.cpp then uses token_embd as the output.
    const ggufName = hfToGgufName(name);
    if (ggufName === undefined) continue;
    out.push({
      name,
      ggufName,
      shape,
      ...(dtype === 'q4_k_m'
        ? q4kmType(ggufName, shape, config.numLayers, config.tieWordEmbeddings)
        : tensorType(ggufName, shape, dtype, headDtype)),
    });
  }
  return out;
}

/** llama-quantize's use_more_bits: the first and last eighth of the layers and every third between. */
function useMoreBits(layer: number, layers: number): boolean {
  const e = Math.floor(layers / 8);
  return layer < e || layer >= Math.floor((7 * layers) / 8) || (layer - e) % 3 === 2;
}

/**
 * llama-quantize's Q4_K_M choices (llama_tensor_get_type, no experts, not Falcon, not 70B): the output
 * (tied: the embedding) and attn_v / ffn_down of the use_more_bits layers in Q6_K, every other matrix in
 * Q4_K. Rows that are not whole 256-value super-blocks take Q4_0 for Q4_K and Q8_0 for Q6_K (llama.cpp
 * would write Q5_0 for the first, a type we neither write nor run natively).
 */
function q4kmType(
  ggufName: string,
  shape: number[],
  layers: number,
  tied: boolean,
): { type: GgufTensorType; note?: string } {
  if (shape.length === 1) return { type: 'F32' };
  const layer = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(ggufName);
  const six =
    ggufName === 'output.weight' ||
    (ggufName === 'token_embd.weight' && tied) ||
    (layer !== null && useMoreBits(Number(layer[1]), layers));
  const cols = shape[shape.length - 1];
  if (cols % QK_K === 0) return { type: six ? 'Q6_K' : 'Q4_K' };
  const fallback = six ? 'Q8_0' : 'Q4_0';
  if (cols % QK === 0)
    return {
      type: fallback,
      note: `rows of ${cols} are not whole ${QK_K}-value super-blocks: ${fallback} instead of ${six ? 'Q6_K' : 'Q4_K'}`,
    };
  return { type: 'F16', note: `rows of ${cols} are not whole ${QK}-value blocks: F16` };
}

function tensorType(
  ggufName: string,
  shape: number[],
  dtype: GgufExportDType,
  headDtype: GgufHeadDType,
): { type: GgufTensorType; note?: string } {
  if (shape.length === 1) return { type: 'F32' };
  if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16')
    return { type: dtype.toUpperCase() as GgufTensorType };
  const table = ggufName === 'token_embd.weight' || ggufName === 'output.weight';
  const cols = shape[shape.length - 1];
  if (table && headDtype === 'q6_k') {
    if (cols % QK_K === 0)
      return { type: 'Q6_K', note: 'embedding/head in Q6_K (our engine runs it dequantized)' };
    if (cols % QK === 0)
      return {
        type: 'Q8_0',
        note: `rows of ${cols} are not whole ${QK_K}-value super-blocks: Q8_0 instead of Q6_K`,
      };
  }
  const want = dtype === 'q8_0' || table ? 'Q8_0' : 'Q4_0';
  if (cols % QK !== 0)
    return { type: 'F16', note: `rows of ${cols} are not whole ${QK}-value blocks: F16 instead of ${want}` };
  return table && dtype === 'q4_0' ? { type: want, note: 'embedding/head kept in Q8_0' } : { type: want };
}

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

/**
 * The architecture an export writes. A MiniCPM may be written as 'llama' only when its three μP
 * multipliers are 1 (llama.cpp's llama arch has none), and a llama arch cannot express rope_scaling
 * other than linear; both are ConfigErrors that say which arch to use instead.
 */
export function ggufExportArch(c: MiniCPMConfig, arch: GgufExportArch = 'auto'): 'minicpm' | 'llama' {
  const resolved = arch === 'auto' ? (c.modelType === 'llama' ? 'llama' : 'minicpm') : arch;
  if (resolved === 'llama') {
    const m = multipliers(c);
    if (m.embedding !== 1 || m.residual !== 1 || m.logitDivisor !== 1)
      throw new ConfigError(
        `a MiniCPM with scale_emb ${c.scaleEmb}, residual scale ${m.residual} and logit divisor ${m.logitDivisor} cannot be written as arch 'llama' (it has no μP multipliers): use --arch minicpm`,
      );
    if (c.ropeScaling && c.ropeScaling.type !== 'linear')
      throw new ConfigError(
        `rope_scaling ${JSON.stringify(c.ropeScaling)} has no llama GGUF key that llama.cpp reads the same way`,
      );
  }
  return resolved;
}

/** The Hugging Face LlamaConfig fields a llama-arch GGUF holds. */
export function llamaGgufConfig(c: MiniCPMConfig): LlamaHfConfig {
  return {
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling ? { type: 'linear', factor: c.ropeScaling.factor } : null,
  };
}

/** The tensor's bytes in the GGUF file: renamed, q/k permuted, cast or quantized to `type`. */
function convert(rec: TensorRecord, hf: GgufHeads, type: GgufTensorType): Uint8Array {
  const float = type === 'Q8_0' || type === 'Q4_0' || type === 'Q4_K' || type === 'Q6_K' ? 'F32' : type;
  const out = hfTensorToGguf(castFloat(rec, float), hf);
  if (!out) throw new Error(`tensor '${rec.name}' has no GGUF name`);
  if (type === 'Q8_0') return encodeQ8_0(toFloat32(out));
  if (type === 'Q4_0') return encodeQ4_0(toFloat32(out));
  if (type === 'Q6_K') return encodeQ6_K(toFloat32(out));
  if (type === 'Q4_K') return encodeQ4_K(toFloat32(out));
  return out.data;
}

function metadata(
  config: MiniCPMConfig,
  dtype: GgufExportDType,
  opts: GgufExportOptions,
): Map<string, GgufValue> {
  const meta = { name: opts.name, fileType: FILE_TYPE[dtype], tokenizer: opts.tokenizer };
  const m =
    ggufExportArch(config, opts.arch) === 'llama'
      ? llamaGgufMetadata(llamaGgufConfig(config), meta)
      : minicpmGgufMetadata(ggufHfConfig(config), meta);
  // SentencePiece normalizer flags llama.cpp reads (it assumes true for both when absent).
  const t = opts.tokenizer;
  if (t?.addSpacePrefix !== undefined) m.set('tokenizer.ggml.add_space_prefix', gv.bool(t.addSpacePrefix));
  if (t?.removeExtraWhitespaces !== undefined) {
    m.set('tokenizer.ggml.remove_extra_whitespaces', gv.bool(t.removeExtraWhitespaces));
  }
  return m;
}

/** One lazy GGUF tensor per parameter (in checkpoint order), read through `read`. */
function lazyTensors(
  config: MiniCPMConfig,
  dtype: GgufExportDType,
  headDtype: GgufHeadDType | undefined,
  read: (name: string) => TensorRecord | Promise<TensorRecord>,
): GgufTensorSource[] {
  const hf = { num_attention_heads: config.numHeads, num_key_value_heads: config.numKvHeads };
  return ggufTensorPlan(config, dtype, headDtype).map((c) => ({
    name: c.ggufName,
    shape: c.shape,
    ggmlType: c.type,
    load: async () => convert(await read(c.name), hf, c.type),
  }));
}

/** Write an in-memory model as a GGUF file llama.cpp loads. */
export async function exportModelToGguf(
  model: MiniCPM,
  path: string,
  opts: GgufExportOptions = {},
): Promise<void> {
  const dtype = opts.dtype ?? 'f32';
  const meta = metadata(model.config, dtype, opts);
  const tensors = lazyTensors(model.config, dtype, opts.headDtype, (name) =>
    tensorToRecord(name, model.p(name)),
  );
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
  const meta = metadata(config, dtype, opts); // checks the arch before any tensor is read
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
    await writeGguf(
      path,
      meta,
      lazyTensors(config, dtype, opts.headDtype, (name) => reader.read(name)),
    );
  } finally {
    await reader.close();
  }
  return config;
}
