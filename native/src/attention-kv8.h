/*
 * The int8 KV cache (`--kv-cache int8`): quantization on append and attention over the int8 rows.
 *
 * Layout. Keys and values are stored as int8 codes [B, cap, Hkv, D] with one f32 scale per (batch,
 * position, kv head): scales [B, cap, Hkv]. Scale granularity is per head per token because
 *   - the cache grows one token at a time: a per-token scale is final when the token is appended (a
 *     per-channel scale, better for keys' outlier channels, would need calibration or re-quantizing
 *     the whole history as the range grows);
 *   - heads differ in range by an order of magnitude (one scale per position across all heads lets the
 *     loudest head crush the quiet ones), while one head's D = 64..128 elements amortize the 4-byte
 *     scale to 1 + 4/D bytes per element (1.06 at D = 64: 3.8x fewer bytes than f32, 1.9x than bf16).
 *
 * Quantization of one row x[0, D) (exactly as the TypeScript twin, src/backends/cpu/attention-kv8.ts):
 *   amax = max |x_i|; d = amax / 127 (f32); codes q_i = round-half-away(x_i · (1/d)) in [-127, 127];
 *   amax = 0 gives d = 0 and zero codes; a non-finite element gives d = NaN and zero codes, so the
 *   NaN reaches the attention output as it would through an f32 cache. Dequantized: x̂_i = d · q_i.
 *
 * Attention over the cache equals attention over the dequantized rows (x̂ rounded to f32); only the
 * accumulation order differs from the twin.
 */
#ifndef MC_ATTENTION_KV8_H
#define MC_ATTENTION_KV8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rows × D floats (contiguous rows) → codes [rows, D] and scales [rows]. */
void mc_kv8_quantize(const float *x, long rows, int D, int8_t *codes, float *scales);

/* Attention with GQA: q [B, T, Hq, D] f32 against the first S positions of an int8 cache whose batch
 * entries are `cap` positions apart (codes k/v [B, cap, Hkv, D], scales ks/vs [B, cap, Hkv]); out
 * [B, T, Hq, D], lse [B, Hq, T]. Query t sits at position qoff + t. T = 1 (decode) reads the int8 rows
 * directly, split over the pool by key ranges; T > 1 (prefill, GEMM-bound) dequantizes the S rows once
 * and runs mc_attention_fwd. Out of memory: the failure is recorded (internal.h) and nothing written. */
void mc_attention_fwd_kv8(const float *q, const int8_t *k, const float *ks, const int8_t *v, const float *vs, int cap,
                         float *out, float *lse, int B, int T, int S, int Hq, int Hkv, int D, int qoff, int causal,
                         float scale);

#ifdef __cplusplus
}
#endif
#endif
