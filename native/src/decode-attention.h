/* Decode attention (one query row per sequence) over a bf16 KV cache, AVX-512 (decode-attention.c
 * drives, decode-attention-avx512.c computes; the twin is the reference attention of the TypeScript
 * backend, and the portable kernel of nn-attention.c runs wherever this one declines). */
#ifndef MC_DECODE_ATTENTION_H
#define MC_DECODE_ATTENTION_H

#include <stdint.h>

/* q [B, Hq, D] f32, caches k, v [B, S, Hkv, D] bf16 bits, every key visible; out [B, Hq, D],
 * lse [B, Hq] (natural-log sum of exp of the scaled scores). Returns 0 without touching anything when
 * it does not apply (no AVX-512, D not a multiple of 16, Hq not a multiple of Hkv, S < 1), 1 when done
 * (an allocation failure is recorded as internal.h says and the outputs are then undefined). */
/* Whether mc_decode_attention_bf16 runs for these sizes on this CPU (1) or declines (0). */
int mc_decode_attention_bf16_applies(int B, int S, int Hq, int Hkv, int D);

int mc_decode_attention_bf16(const float *q, const uint16_t *k, const uint16_t *v, float *out, float *lse, int B,
                             int S, int Hq, int Hkv, int D, float scale);

/* One key range [s0, s1) of one sequence, every query head (the AVX-512 part): m[h] = max scaled
 * score, l[h] = Σ exp(score − m[h]), o[h·D + i] = Σ exp(score − m[h])·v (unnormalised). P holds
 * (s1 − s0)·round_up(Hq, 16) + Hq·(D + 1) floats (scores, the query permuted, kv offsets). s1 > s0. */
void mc_decode_attn_part_bf16_avx512(const float *q, const uint16_t *k, const uint16_t *v, long ldk, int s0, int s1,
                                     int Hq, int group, int D, float scale, float *P, float *m, float *l, float *o);

#endif
