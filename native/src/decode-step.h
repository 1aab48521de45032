/* The attention phase of a one-token decode step in one call (decode-step.c; twin: the rope op, the KV
 * cache's append and the attention op in turn, src/models/kv-cache.ts). */
#ifndef MC_DECODE_STEP_H
#define MC_DECODE_STEP_H

#include <stdint.h>

/* One token of one sequence over a bf16 cache k, v [capacity, Hkv, D] holding `pos` positions:
 * qr = RoPE(q) [Hq, D] (rotate-half, the position `pos` of the cos/sin tables [.., D/2]); k [Hkv, D] is
 * rotated in place; k and v are rounded to bf16 into the cache's row `pos`; then out [Hq, D] and lse [Hq]
 * are the decode attention of qr over the pos + 1 cached positions (decode-attention.h). Returns 0
 * without touching anything when the decode attention kernel does not apply, 1 when done. */
int mc_decode_rope_append_attend_bf16(const float *q, float *k, const float *v, const float *cos, const float *sin,
                                      int pos, uint16_t *kc, uint16_t *vc, float *qr, float *out, float *lse, int Hq,
                                      int Hkv, int D, float scale);

#endif
