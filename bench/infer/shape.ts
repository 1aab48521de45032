/**
 * The infer bench's model: MiniCPM-2B's width at reduced depth (random weights), with the parameter and
 * FLOP counts its rows are measured against, and the weight bytes one decoded token reads on each side.
 */
import { configFromHF, type MiniCPMConfig } from '../../src/models/config.js';

/** MiniCPM-2B's config.json at `layers` layers; `overrides` replaces keys (e.g. a small vocabulary). */
export function minicpm2bShape(layers: number, overrides: Record<string, unknown> = {}): MiniCPMConfig {
  return configFromHF({
    model_type: 'minicpm',
    vocab_size: 122753,
    hidden_size: 2304,
    intermediate_size: 5760,
    num_hidden_layers: layers,
    num_attention_heads: 36,
    num_key_value_heads: 36,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    scale_emb: 12,
    scale_depth: 1.4,
    dim_model_base: 256,
    initializer_range: 0.1,
    bos_token_id: 1,
    eos_token_id: 2,
    ...overrides,
  });
}

/** Parameters of the decoder layers' projections (q, k, v, o, gate, up, down), all layers. */
export function layerParams(c: MiniCPMConfig): number {
  const d = c.hiddenSize;
  const perLayer =
    2 * d * c.numHeads * c.headDim + 2 * d * c.numKvHeads * c.headDim + 3 * d * c.intermediateSize;
  return c.numLayers * perLayer;
}

/** Matrix parameters (incl. the embedding, read once per token as the tied head). */
export function matrixParams(c: MiniCPMConfig): number {
  return layerParams(c) + c.vocabSize * c.hiddenSize;
}

/** Forward FLOPs of `T` new tokens at position `pos`, logits for `logitRows` rows (2·params + attention). */
export function forwardFlops(c: MiniCPMConfig, T: number, pos: number, logitRows: number): number {
  let attn = 0; // QKᵀ and PV over the causal span
  for (let t = 0; t < T; t++) attn += 4 * c.numHeads * c.headDim * (pos + t + 1);
  return 2 * T * layerParams(c) + c.numLayers * attn + 2 * logitRows * c.vocabSize * c.hiddenSize;
}

/** Weight bytes one decoded token reads: the layers' projections and the tied head. */
export interface DecodeBytes {
  layers: number;
  head: number;
}

/**
 * KV cache bytes one decoded token's attention reads, averaged over `nDecode` steps after an `nPrompt`
 * prompt (step i reads nPrompt + i + 1 positions of every layer's keys and values), at `bytesPerPosition`
 * over all layers (KVCache.bytesPerPosition).
 */
export function kvDecodeBytes(bytesPerPosition: number, nPrompt: number, nDecode: number): number {
  return bytesPerPosition * (nPrompt + (nDecode + 1) / 2);
}

/**
 * What llama.cpp reads per token from our Q4_0 / Q8_0 export (gguf-export.ts): the projections in
 * Q4_0 (18 bytes per 32: fp16 scale + 16 nibble bytes) or Q8_0 (34 bytes per 32), the tied
 * embedding/head in Q8_0 in both files (llama-quantize would write Q6_K there; our exporter keeps Q8_0).
 */
export function ggufDecodeBytes(c: MiniCPMConfig, dtype: 'q4_0' | 'q8_0'): DecodeBytes {
  return {
    layers: (layerParams(c) / 32) * (dtype === 'q4_0' ? 18 : 34),
    head: ((c.vocabSize * c.hiddenSize) / 32) * 34,
  };
}
