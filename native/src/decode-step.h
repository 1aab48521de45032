/* The attention phase of a one-token decode step in one call (decode-step.c; twin: the rope op, the KV
 * cache's append and the attention op in turn, src/models/kv-cache.ts). */
#ifndef MC_DECODE_STEP_H
#define MC_DECODE_STEP_H

#include <stdint.h>

/* One token of one sequence over a cache k, v [capacity, Hkv, D] (bf16 bits when `bf16`, else f32)
 * holding `pos` positions: qr = RoPE(q) [Hq, D] (rotate-half, the position `pos` of the cos/sin tables
 * [.., D/2]); k [Hkv, D] is rotated in place; k and v are stored (rounded to bf16 for a bf16 cache) as
 * the cache's row `pos`; then out [Hq, D] and lse [Hq] are the attention of qr over the pos + 1 cached
 * positions: the AVX-512 decode kernel (decode-attention.h) for bf16, mc_attention_fwd for f32. Returns
 * 0 without touching anything where the attention op would run another kernel (a bf16 cache the decode
 * kernel declines, Hq not a multiple of Hkv), 1 when done. */
/* Whether mc_decode_rope_append_attend runs for these sizes (1) or declines (0). */
int mc_decode_step_applies(int pos, int bf16, int Hq, int Hkv, int D);

int mc_decode_rope_append_attend(const float *q, float *k, const float *v, const float *cos, const float *sin, int pos,
                                 void *kc, void *vc, int bf16, float *qr, float *out, float *lse, int Hq, int Hkv,
                                 int D, float scale);

#endif
