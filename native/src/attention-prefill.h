/*
 * Multi-query (prefill) attention with register-tiled AVX-512 loops (attention-prefill-avx512.c),
 * entered from mc_attention_fwd / mc_attention_fwd_bf16kv (nn-attention.c) when T > 1 on an
 * AVX-512 CPU. Same contract as mc_attention_fwd: q, out [B, T, Hq, D] f32; k, v [B, S, Hkv, D] as
 * f32 or (kv_bf16) bf16 bits, read in place; lse [B, Hq, T]; causal masks keys past qoff + t.
 */
#ifndef MC_ATTENTION_PREFILL_H
#define MC_ATTENTION_PREFILL_H

void mc_attention_prefill_avx512(const float *q, const void *k, const void *v, int kv_bf16, float *out,
                                 float *lse, int B, int T, int S, int Hq, int Hkv, int D, int qoff, int causal,
                                 float scale);

#endif
