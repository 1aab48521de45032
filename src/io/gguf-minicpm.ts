// MiniCPM in GGUF, as llama.cpp's convert_hf_to_gguf.py writes it (class MiniCPMModel, arch "minicpm"):
// the metadata keys, the HF ↔ GGUF tensor names, and the q/k row permutation for llama.cpp's rope.
// Key names checked against llama.cpp's gguf-py/gguf/constants.py (Keys.LLM / Attention / Rope /
// Tokenizer) and the MiniCPM converter: embedding_scale = scale_emb, residual_scale =
// scale_depth/√L, logit_scale = hidden_size/dim_model_base (llama.cpp divides the logits by it).

import type { TensorRecord } from './dtypes.js';
import type { GgufFile } from './gguf.js';
import { gv, type GgufValue } from './gguf-types.js';

export const MINICPM_ARCH = 'minicpm';

export const MINICPM_KEYS = {
  architecture: 'general.architecture',
  name: 'general.name',
  fileType: 'general.file_type',
  quantizationVersion: 'general.quantization_version',
  vocabSize: 'minicpm.vocab_size',
  contextLength: 'minicpm.context_length',
  embeddingLength: 'minicpm.embedding_length',
  blockCount: 'minicpm.block_count',
  feedForwardLength: 'minicpm.feed_forward_length',
  ropeDimensionCount: 'minicpm.rope.dimension_count',
  ropeFreqBase: 'minicpm.rope.freq_base',
  headCount: 'minicpm.attention.head_count',
  headCountKv: 'minicpm.attention.head_count_kv',
  rmsEps: 'minicpm.attention.layer_norm_rms_epsilon',
  embeddingScale: 'minicpm.embedding_scale',
  residualScale: 'minicpm.residual_scale',
  logitScale: 'minicpm.logit_scale',
} as const;

export const TOKENIZER_KEYS = {
  model: 'tokenizer.ggml.model', // "llama" for SentencePiece models such as MiniCPM's
  pre: 'tokenizer.ggml.pre',
  tokens: 'tokenizer.ggml.tokens',
  scores: 'tokenizer.ggml.scores',
  tokenType: 'tokenizer.ggml.token_type',
  merges: 'tokenizer.ggml.merges',
  bosId: 'tokenizer.ggml.bos_token_id',
  eosId: 'tokenizer.ggml.eos_token_id',
  unkId: 'tokenizer.ggml.unknown_token_id',
  padId: 'tokenizer.ggml.padding_token_id',
  addBos: 'tokenizer.ggml.add_bos_token',
  addEos: 'tokenizer.ggml.add_eos_token',
  chatTemplate: 'tokenizer.chat_template',
} as const;

/** tokenizer.ggml.token_type values (llama.cpp's TokenType). */
export const GGUF_TOKEN_TYPE = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** general.file_type values (llama.cpp's LlamaFileType) for the types we write. */
export const GGUF_FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 } as const;
const GGML_QUANT_VERSION = 2;

/** The Hugging Face config fields the GGUF metadata is built from (as in config.json). */
export interface MiniCpmHfConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  scale_emb: number;
  scale_depth: number;
  dim_model_base: number;
}

export interface GgufTokenizer {
  model?: string;
  tokens: string[];
  scores?: Float32Array | number[];
  tokenTypes?: Int32Array | number[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  chatTemplate?: string;
}

/** Metadata for a MiniCPM GGUF, in the order llama.cpp's converter writes it. */
export function minicpmGgufMetadata(
  config: MiniCpmHfConfig,
  opts: { name?: string; fileType?: number; tokenizer?: GgufTokenizer } = {},
): Map<string, GgufValue> {
  const K = MINICPM_KEYS;
  const c = config;
  const m = new Map<string, GgufValue>();
  m.set(K.architecture, gv.string(MINICPM_ARCH));
  if (opts.name !== undefined) m.set(K.name, gv.string(opts.name));
  m.set(K.vocabSize, gv.uint32(c.vocab_size));
  m.set(K.contextLength, gv.uint32(c.max_position_embeddings));
  m.set(K.embeddingLength, gv.uint32(c.hidden_size));
  m.set(K.blockCount, gv.uint32(c.num_hidden_layers));
  m.set(K.feedForwardLength, gv.uint32(c.intermediate_size));
  m.set(K.ropeDimensionCount, gv.uint32(c.hidden_size / c.num_attention_heads));
  m.set(K.headCount, gv.uint32(c.num_attention_heads));
  m.set(K.headCountKv, gv.uint32(c.num_key_value_heads ?? c.num_attention_heads));
  m.set(K.ropeFreqBase, gv.float32(c.rope_theta ?? 10000)); // MiniCPM-2B's config has none: 10000, never 1e6
  m.set(K.rmsEps, gv.float32(c.rms_norm_eps));
  m.set(K.fileType, gv.uint32(opts.fileType ?? GGUF_FILE_TYPE.F32));
  m.set(K.embeddingScale, gv.float32(c.scale_emb));
  m.set(K.residualScale, gv.float32(c.scale_depth / Math.sqrt(c.num_hidden_layers)));
  m.set(K.logitScale, gv.float32(c.hidden_size / c.dim_model_base));
  m.set(K.quantizationVersion, gv.uint32(GGML_QUANT_VERSION));
  if (opts.tokenizer) for (const [k, v] of tokenizerMetadata(opts.tokenizer)) m.set(k, v);
  return m;
}

export function tokenizerMetadata(t: GgufTokenizer): Map<string, GgufValue> {
  const T = TOKENIZER_KEYS;
  const m = new Map<string, GgufValue>();
  m.set(T.model, gv.string(t.model ?? 'llama'));
  m.set(T.tokens, gv.array('string', t.tokens));
  if (t.scores) m.set(T.scores, gv.array('float32', t.scores));
  if (t.tokenTypes) m.set(T.tokenType, gv.array('int32', t.tokenTypes));
  if (t.bosId !== undefined) m.set(T.bosId, gv.uint32(t.bosId));
  if (t.eosId !== undefined) m.set(T.eosId, gv.uint32(t.eosId));
  if (t.unkId !== undefined) m.set(T.unkId, gv.uint32(t.unkId));
  if (t.padId !== undefined) m.set(T.padId, gv.uint32(t.padId));
  if (t.addBos !== undefined) m.set(T.addBos, gv.bool(t.addBos));
  if (t.addEos !== undefined) m.set(T.addEos, gv.bool(t.addEos));
  if (t.chatTemplate !== undefined) m.set(T.chatTemplate, gv.string(t.chatTemplate));
  return m;
}

/** The shortest decimal that is the same float32: 1.4 comes back as 1.4, not 1.399999976158142. */
function f32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

/** Rebuild the Hugging Face config fields from a MiniCPM GGUF (float32 values shown as their shortest decimal). */
export function minicpmConfigFromGguf(file: GgufFile): MiniCpmHfConfig {
  const K = MINICPM_KEYS;
  const arch = file.getString(K.architecture);
  if (arch !== MINICPM_ARCH) {
    throw new TypeError(`${file.path}: general.architecture is '${arch}', expected '${MINICPM_ARCH}'`);
  }
  const L = file.getNumber(K.blockCount);
  const hidden = file.getNumber(K.embeddingLength);
  const vocab = file.has(K.vocabSize)
    ? file.getNumber(K.vocabSize)
    : file.getStringArray(TOKENIZER_KEYS.tokens).length;
  return {
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: file.getNumber(K.feedForwardLength),
    num_hidden_layers: L,
    num_attention_heads: file.getNumber(K.headCount),
    num_key_value_heads: file.has(K.headCountKv)
      ? file.getNumber(K.headCountKv)
      : file.getNumber(K.headCount),
    max_position_embeddings: file.getNumber(K.contextLength),
    rms_norm_eps: f32Decimal(file.getNumber(K.rmsEps)),
    rope_theta: file.has(K.ropeFreqBase) ? f32Decimal(file.getNumber(K.ropeFreqBase)) : 10000,
    scale_emb: f32Decimal(file.getNumber(K.embeddingScale)),
    scale_depth: f32Decimal(file.getNumber(K.residualScale) * Math.sqrt(L)),
    dim_model_base: Math.round(hidden / file.getNumber(K.logitScale)),
  };
}

// ---- tensor names -------------------------------------------------------------------------------

const LAYER_NAMES: [hf: string, gguf: string][] = [
  ['input_layernorm', 'attn_norm'],
  ['self_attn.q_proj', 'attn_q'],
  ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'],
  ['self_attn.o_proj', 'attn_output'],
  ['post_attention_layernorm', 'ffn_norm'],
  ['mlp.gate_proj', 'ffn_gate'],
  ['mlp.up_proj', 'ffn_up'],
  ['mlp.down_proj', 'ffn_down'],
];
const GLOBAL_NAMES: [hf: string, gguf: string][] = [
  ['model.embed_tokens', 'token_embd'],
  ['model.norm', 'output_norm'],
  ['lm_head', 'output'],
];

/** GGUF name of a Hugging Face MiniCPM tensor, or undefined for tensors llama.cpp does not store (rotary inv_freq). */
export function hfToGgufName(name: string): string | undefined {
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m) {
    const hit = LAYER_NAMES.find(([hf]) => hf === m[2]);
    return hit ? `blk.${m[1]}.${hit[1]}.${m[3]}` : undefined;
  }
  const g = /^(.+)\.(weight|bias)$/.exec(name);
  const hit = g && GLOBAL_NAMES.find(([hf]) => hf === g[1]);
  return hit ? `${hit[1]}.${g[2]}` : undefined;
}

export function ggufToHfName(name: string): string | undefined {
  const m = /^blk\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m) {
    const hit = LAYER_NAMES.find(([, gg]) => gg === m[2]);
    return hit ? `model.layers.${m[1]}.${hit[0]}.${m[3]}` : undefined;
  }
  const g = /^(.+)\.(weight|bias)$/.exec(name);
  const hit = g && GLOBAL_NAMES.find(([, gg]) => gg === g[1]);
  return hit ? `${hit[0]}.${g[2]}` : undefined;
}

// ---- q/k permutation ----------------------------------------------------------------------------
// HF checkpoints rotate halves (element i of a head pairs with i + D/2); llama.cpp's rope for this arch
// rotates adjacent pairs (2i, 2i+1). Its converter therefore reorders the rows of each head of q_proj
// and k_proj (LlamaModel.permute: reshape(n_head, 2, D/2, in).swapaxes(1, 2)) so that GGUF row
// h·D + 2j + a holds HF row h·D + a·D/2 + j. k uses the number of kv heads.

function permuteRows(r: TensorRecord, nHeads: number, inverse: boolean): TensorRecord {
  const rows = r.shape[0];
  if (!(nHeads > 0) || rows % nHeads !== 0 || (rows / nHeads) % 2 !== 0) {
    throw new RangeError(
      `tensor '${r.name}': ${rows} rows cannot be split into ${nHeads} heads of even size`,
    );
  }
  const rowBytes = rows === 0 ? 0 : r.data.byteLength / rows;
  const d = rows / nHeads;
  const half = d / 2;
  const out = new Uint8Array(r.data.byteLength);
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let a = 0; a < 2; a++) {
        const gg = h * d + 2 * j + a; // interleaved (GGUF) row
        const hf = h * d + a * half + j; // rotate-half (HF) row
        const [dst, src] = inverse ? [hf, gg] : [gg, hf];
        out.set(r.data.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return { ...r, shape: [...r.shape], data: out };
}

/** HF (rotate-half) q/k rows → llama.cpp GGUF (interleaved) order. `nHeads`: heads in this matrix. */
export function permuteQK(r: TensorRecord, nHeads: number): TensorRecord {
  return permuteRows(r, nHeads, false);
}

/** GGUF (interleaved) q/k rows → HF (rotate-half) order; the inverse of permuteQK. */
export function unpermuteQK(r: TensorRecord, nHeads: number): TensorRecord {
  return permuteRows(r, nHeads, true);
}

/** What the q/k permutation needs to know of a config (the same for the minicpm and llama archs). */
export type GgufHeads = Pick<MiniCpmHfConfig, 'num_attention_heads' | 'num_key_value_heads'>;

/** Rename a HF tensor for GGUF and permute q/k; undefined for tensors GGUF does not store. */
export function hfTensorToGguf(r: TensorRecord, config: GgufHeads): TensorRecord | undefined {
  const name = hfToGgufName(r.name);
  if (name === undefined) return undefined;
  const kv = config.num_key_value_heads ?? config.num_attention_heads;
  const out = r.name.endsWith('q_proj.weight')
    ? permuteQK(r, config.num_attention_heads)
    : r.name.endsWith('k_proj.weight')
      ? permuteQK(r, kv)
      : r;
  return { ...out, name };
}

/** The inverse of hfTensorToGguf. */
export function ggufTensorToHf(r: TensorRecord, config: GgufHeads): TensorRecord | undefined {
  const name = ggufToHfName(r.name);
  if (name === undefined) return undefined;
  const kv = config.num_key_value_heads ?? config.num_attention_heads;
  const out = r.name.endsWith('attn_q.weight')
    ? unpermuteQK(r, config.num_attention_heads)
    : r.name.endsWith('attn_k.weight')
      ? unpermuteQK(r, kv)
      : r;
  return { ...out, name };
}
