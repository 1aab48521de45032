/*
 * Decode attention over a bf16 KV cache (decode-attention.h): the flash-decoding split of
 * nn-attention.c's decode path — each task streams one contiguous range of positions for every head
 * and leaves a partial softmax, merged afterwards with log-sum-exp rescaling — with the part computed
 * by the AVX-512 kernel of decode-attention-avx512.c. Where that does not apply the caller runs the
 * portable path (mc_attention_fwd_bf16kv).
 */
#include <math.h>
#include <string.h>

#include "decode-attention.h"
#include "internal.h"
#include "nn.h"

typedef struct {
  const float *q;
  const uint16_t *k, *v;
  int S, Hq, Hkv, D, nsplit;
  float scale;
  float *part; /* per task: o [Hq·D], m [Hq], l [Hq] */
} dec_t;

#ifdef MC_X86
static void part_task(void *arg, int task, int tid) {
  const dec_t *d = arg;
  const int b = task / d->nsplit, sp = task % d->nsplit, Hq = d->Hq, D = d->D;
  const int s0 = (int)((long)d->S * sp / d->nsplit), s1 = (int)((long)d->S * (sp + 1) / d->nsplit);
  float *o = d->part + (long)task * Hq * (D + 2), *m = o + (long)Hq * D, *l = m + Hq;
  if (s1 <= s0) { /* an empty range: nothing to merge */
    for (int h = 0; h < Hq; h++) m[h] = -INFINITY, l[h] = 0.0f;
    return;
  }
  const long ldk = (long)d->Hkv * D;
  const size_t np = (size_t)(s1 - s0) * (size_t)((Hq + 15) & ~15) + (size_t)Hq * (size_t)(D + 1);
  float *P = mc_scratch(MC_SCRATCH_A, sizeof(float) * np);
  if (!P) {
    for (int h = 0; h < Hq; h++) m[h] = -INFINITY, l[h] = 0.0f;
    return;
  }
  const long boff = (long)b * d->S * ldk;
  mc_decode_attn_part_bf16_avx512(d->q + (long)b * Hq * D, d->k + boff, d->v + boff, ldk, s0, s1, Hq, Hq / d->Hkv, D,
                                  d->scale, P, m, l, o);
}
#endif

int mc_decode_attention_bf16_applies(int B, int S, int Hq, int Hkv, int D) {
#ifdef MC_X86
  mc_init();
  return mc_k.isa == MC_ISA_AVX512 && B >= 1 && S >= 1 && D >= 16 && D % 16 == 0 && Hkv >= 1 && Hq % Hkv == 0;
#else
  (void)B, (void)S, (void)Hq, (void)Hkv, (void)D;
  return 0;
#endif
}

int mc_decode_attention_bf16(const float *q, const uint16_t *k, const uint16_t *v, float *out, float *lse, int B,
                             int S, int Hq, int Hkv, int D, float scale) {
#ifdef MC_X86
  if (!mc_decode_attention_bf16_applies(B, S, Hq, Hkv, D)) return 0;
  const int nt = mc_pool_threads();
  /* split each row's keys until every thread has work, ranges of at least 64 positions */
  int nsplit = B >= nt ? 1 : (nt + B - 1) / B;
  nsplit = MC_MAX(1, MC_MIN(nsplit, S / 64));
  const long per = (long)Hq * (D + 2);
  float *part = mc_scratch(MC_SCRATCH_B, sizeof(float) * (size_t)((long)B * nsplit * per));
  if (!part) return 1;
  dec_t d = {q, k, v, S, Hq, Hkv, D, nsplit, scale, part};
  mc_parallel(B * nsplit, part_task, &d);
  mc_merge_key_splits(part, B, nsplit, Hq, D, out, lse);
  return 1;
#else
  (void)q, (void)k, (void)v, (void)out, (void)lse, (void)B, (void)S, (void)Hq, (void)Hkv, (void)D, (void)scale;
  return 0;
#endif
}
