/** MiniCPM configuration: the Hugging Face config.json keys with the MiniCPM config class's defaults. */

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface RopeScaling {
  type: 'linear' | 'dynamic';
  factor: number;
}

export interface MiniCPMConfig {
  modelType: 'minicpm' | 'llama';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** μP: input embedding multiplier. */
  scaleEmb: number;
  /** μP: residual branches are scaled by scaleDepth/√L. */
  scaleDepth: number;
  /** μP: logits are divided by hiddenSize/dimModelBase (the width multiplier m). */
  dimModelBase: number;
  initStd: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** The three multipliers as the forward pass applies them. */
export function multipliers(c: MiniCPMConfig): { embedding: number; residual: number; logitDivisor: number } {
  if (c.modelType === 'llama') return { embedding: 1, residual: 1, logitDivisor: 1 };
  return {
    embedding: c.scaleEmb,
    residual: c.scaleDepth / Math.sqrt(c.numLayers),
    logitDivisor: c.hiddenSize / c.dimModelBase,
  };
}

/** μP width multiplier m = d / dim_model_base. */
export function widthMultiplier(c: MiniCPMConfig): number {
  return c.hiddenSize / c.dimModelBase;
}

type Json = Record<string, unknown>;

function num(json: Json, key: string, fallback?: number): number {
  const v = json[key];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new ConfigError(`config.json is missing "${key}"`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ConfigError(`config.json "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function positiveInt(json: Json, key: string, fallback?: number): number {
  const v = num(json, key, fallback);
  if (!Number.isInteger(v) || v <= 0)
    throw new ConfigError(`config.json "${key}" must be a positive integer, got ${v}`);
  return v;
}

function firstId(v: unknown, fallback: number): number {
  if (Array.isArray(v)) return typeof v[0] === 'number' ? v[0] : fallback;
  return typeof v === 'number' ? v : fallback;
}

/** Parses a Hugging Face config.json (model_type "minicpm" or "llama") and rejects impossible values. */
export function configFromHF(json: Json): MiniCPMConfig {
  const modelType = (json.model_type ?? 'minicpm') as string;
  if (modelType !== 'minicpm' && modelType !== 'llama' && modelType !== 'minicpmv') {
    throw new ConfigError(`model_type "${modelType}" is not supported: expected "minicpm" or "llama"`);
  }
  const hiddenSize = positiveInt(json, 'hidden_size');
  const numHeads = positiveInt(json, 'num_attention_heads');
  const numKvHeads = positiveInt(json, 'num_key_value_heads', numHeads);
  if (hiddenSize % numHeads)
    throw new ConfigError(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  if (numHeads % numKvHeads) {
    throw new ConfigError(
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
    );
  }
  const headDim = positiveInt(json, 'head_dim', hiddenSize / numHeads);
  if (headDim % 2) throw new ConfigError(`head dim ${headDim} must be even for rotary embeddings`);
  let ropeScaling: RopeScaling | null = null;
  const rs = json.rope_scaling as Json | null | undefined;
  if (rs) {
    const type = (rs.type ?? rs.rope_type) as string;
    if (type !== 'linear' && type !== 'dynamic')
      throw new ConfigError(`rope_scaling type "${type}" is not supported (linear, dynamic)`);
    ropeScaling = { type, factor: num(rs, 'factor') };
  }
  const isLlama = modelType === 'llama';
  return {
    modelType: isLlama ? 'llama' : 'minicpm',
    vocabSize: positiveInt(json, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInt(json, 'intermediate_size'),
    numLayers: positiveInt(json, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: positiveInt(json, 'max_position_embeddings', 2048),
    rmsNormEps: num(json, 'rms_norm_eps', 1e-6),
    ropeTheta: num(json, 'rope_theta', 10000),
    ropeScaling,
    // Llama defaults to an untied head; MiniCPM to a tied one.
    tieWordEmbeddings: (json.tie_word_embeddings as boolean | undefined) ?? !isLlama,
    scaleEmb: num(json, 'scale_emb', 1),
    scaleDepth: num(json, 'scale_depth', 1),
    dimModelBase: num(json, 'dim_model_base', 1),
    initStd: num(json, 'initializer_range', 0.02),
    bosTokenId: firstId(json.bos_token_id, 1),
    eosTokenId: firstId(json.eos_token_id, 2),
  };
}

/** The inverse of configFromHF, for saving. */
export function configToHF(c: MiniCPMConfig): Json {
  const base: Json = {
    architectures: [c.modelType === 'llama' ? 'LlamaForCausalLM' : 'MiniCPMForCausalLM'],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling,
    tie_word_embeddings: c.tieWordEmbeddings,
    hidden_act: 'silu',
    initializer_range: c.initStd,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    torch_dtype: 'float32',
  };
  if (c.headDim !== c.hiddenSize / c.numHeads) base.head_dim = c.headDim;
  if (c.modelType === 'minicpm')
    Object.assign(base, { scale_emb: c.scaleEmb, scale_depth: c.scaleDepth, dim_model_base: c.dimModelBase });
  return base;
}
