/** FLOP accounting for MFU (PERFORMANCE.md): 6·N per token plus attention, against this machine's peak. */
import type { MiniCPMConfig } from '../models/config.js';
import { nonEmbeddingParams } from '../models/presets.js';

/** fp32 FMA peak of the 2-core AVX-512 machine these numbers were measured on (FLOP/s). */
export const FP32_PEAK = 405e9;

/** Training FLOPs per token: 6·(N + head) + 6·L·T·d for causal attention (half of 12·L·T·d). */
export function trainFlopsPerToken(c: MiniCPMConfig, seqLen: number): number {
  const head = c.vocabSize * c.hiddenSize;
  const attn = 6 * c.numLayers * seqLen * c.numHeads * c.headDim;
  return 6 * (nonEmbeddingParams(c) + head) + attn;
}
