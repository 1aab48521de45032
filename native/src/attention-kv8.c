/*
 * The int8 KV cache's entry points (attention-kv8.h): quantize-on-append and attention. Decode (one
 * query row) streams the int8 rows directly, split by key ranges over the pool like the f32/bf16 decode
 * (flash-decoding: each task leaves a partial softmax, merged afterwards by log-sum-exp rescaling);
 * prefill dequantizes the visible rows once and hands them to the f32 GEMM attention.
 * Portable C (also built into the wasm module); attention-kv8-avx2.c and -avx512.c build the same bodies
 * for those ISAs (the AVX-512 one widens with intrinsics).
 * Memory follows internal.h's failure policy: decode's blocks come from mc_scratch, prefill's f32 copy
 * from mc_kernel_alloc; a failure is recorded (the binding throws it), the work skipped, nothing aborts.
 */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "nn.h"

#define KV8_IMPL mc_kv8_generic
#include "attention-kv8-impl.h"

#ifdef MC_X86
extern const mc_kv8_impl mc_kv8_avx512, mc_kv8_avx2;
#endif

static const mc_kv8_impl *kv8_active(void) {
  mc_init();
#ifdef MC_X86
  if (mc_features().isa == MC_ISA_AVX512) return &mc_kv8_avx512;
  if (mc_features().isa == MC_ISA_AVX2) return &mc_kv8_avx2;
#endif
  return &mc_kv8_generic;
}

/* ---- quantize ---- */

typedef struct {
  const mc_kv8_impl *k;
  const float *x;
  int8_t *codes;
  float *scales;
  long rows;
  int D, ntasks;
} quant_t;

static void quant_task(void *arg, int task, int tid) {
  const quant_t *j = arg;
  const long lo = j->rows * task / j->ntasks, hi = j->rows * (task + 1) / j->ntasks;
  j->k->quantize_rows(j->x, lo, hi, j->D, j->codes, j->scales);
}

void mc_kv8_quantize(const float *x, long rows, int D, int8_t *codes, float *scales) {
  quant_t j = {kv8_active(), x, codes, scales, rows, D, 1};
  /* a decode step appends one row per kv head: not worth waking the pool */
  const long work = rows * (long)D;
  if (work >= 65536) j.ntasks = (int)MC_MIN((long)mc_pool_threads(), rows);
  if (j.ntasks <= 1) {
    j.k->quantize_rows(x, 0, rows, D, codes, scales);
    return;
  }
  mc_parallel(j.ntasks, quant_task, &j);
}

/* ---- decode ---- */

typedef struct {
  const mc_kv8_impl *k;
  const float *q;
  const int8_t *kc, *vc;
  const float *ks, *vs;
  float *part; /* per task: o [Hq·D], m [Hq], l [Hq] */
  int cap, n, Hq, Hkv, D, nsplit;
  float scale;
} dec_t;

/* Keys [s0, s1) of batch entry b, every query head: m[h] = max score, l[h] = Σ exp(score − m[h]), the
 * unnormalised o[h] = Σ exp(score − m[h])·v̂; an empty range leaves m = −inf, l = 0, o = 0. */
static void dec_task(void *arg, int task, int tid) {
  const dec_t *d = arg;
  const int b = task / d->nsplit, sp = task % d->nsplit, Hq = d->Hq, Hkv = d->Hkv, D = d->D;
  const int group = Hq / Hkv;
  const int s0 = (int)((long)d->n * sp / d->nsplit), s1 = (int)((long)d->n * (sp + 1) / d->nsplit), n = s1 - s0;
  const long ldk = (long)Hkv * D, base = (long)b * d->cap;
  const size_t np = ((size_t)Hq * (size_t)MC_MAX(n, 1) + 15) & ~(size_t)15;
  float *P = mc_scratch(MC_SCRATCH_A, sizeof(float) * (np + (size_t)ldk + 16));
  if (!P) return;
  float *row = P + np;
  float *o = d->part + (long)task * Hq * (D + 2), *m = o + (long)Hq * D, *l = m + Hq;
  const long first = base + s0;
  d->k->dec_part(d->q + (long)b * Hq * D, d->kc + first * ldk, d->ks + first * Hkv, d->vc + first * ldk,
                 d->vs + first * Hkv, Hkv, n, Hq, group, D, d->scale, P, row, o, m, l);
}

static void decode(dec_t *d, int B, float *out, float *lse) {
  const int Hq = d->Hq, D = d->D, nt = mc_pool_threads();
  /* split each row's keys until every thread has work, but keep ranges worth a task */
  int nsplit = B >= nt ? 1 : MC_CEIL(nt, B);
  nsplit = (int)MC_MAX(1, MC_MIN((long)nsplit, (long)d->n * Hq * D / 32768));
  nsplit = MC_MIN(nsplit, MC_MAX(d->n, 1));
  const long per = (long)Hq * (D + 2);
  d->nsplit = nsplit;
  d->part = mc_scratch(MC_SCRATCH_B, sizeof(float) * (size_t)((long)B * nsplit * per));
  if (!d->part) return;
  mc_parallel(B * nsplit, dec_task, d);
  for (int b = 0; b < B; b++) {
    const float *pb = d->part + (long)b * nsplit * per;
    for (int h = 0; h < Hq; h++) {
      float M = -INFINITY, L = 0;
      for (int sp = 0; sp < nsplit; sp++) M = MC_MAX(M, pb[sp * per + (long)Hq * D + h]);
      float *O = out + ((long)b * Hq + h) * D;
      memset(O, 0, sizeof(float) * (size_t)D);
      for (int sp = 0; sp < nsplit; sp++) {
        const float *ps = pb + sp * per, mh = ps[(long)Hq * D + h];
        if (mh == -INFINITY) continue; /* an empty key range */
        const float w = expf(mh - M);
        L += w * ps[(long)Hq * D + Hq + h];
        for (int i = 0; i < D; i++) O[i] += w * ps[(long)h * D + i];
      }
      const float inv = 1.0f / L;
      for (int i = 0; i < D; i++) O[i] *= inv;
      lse[(long)b * Hq + h] = M + logf(L);
    }
  }
}

/* ---- entry ---- */

void mc_attention_fwd_kv8(const float *q, const int8_t *k, const float *ks, const int8_t *v, const float *vs, int cap,
                         float *out, float *lse, int B, int T, int S, int Hq, int Hkv, int D, int qoff, int causal,
                         float scale) {
  const mc_kv8_impl *impl = kv8_active();
  const int visible1 = causal ? MC_MIN(S, qoff + 1) : S;
  if (T == 1 && B > 0 && visible1 > 0) {
    dec_t d = {.k = impl, .q = q, .kc = k, .vc = v, .ks = ks, .vs = vs, .cap = cap, .n = visible1, .Hq = Hq,
               .Hkv = Hkv, .D = D, .scale = scale};
    decode(&d, B, out, lse);
    return;
  }
  /* prefill is GEMM-bound: dequantize the visible rows once, then the f32 path */
  const long ldk = (long)Hkv * D;
  const size_t n = (size_t)B * (size_t)S * (size_t)ldk;
  float *kf = mc_kernel_alloc("attention_fwd_kv8", sizeof(float) * MC_MAX(n, (size_t)1));
  float *vf = kf ? mc_kernel_alloc("attention_fwd_kv8", sizeof(float) * MC_MAX(n, (size_t)1)) : NULL;
  if (kf && vf) {
    for (int b = 0; b < B; b++)
      for (int s = 0; s < S; s++) {
        const long src = (long)b * cap + s, dst = ((long)b * S + s) * ldk;
        impl->widen_row(k + src * ldk, ks + src * Hkv, Hkv, D, kf + dst);
        impl->widen_row(v + src * ldk, vs + src * Hkv, Hkv, D, vf + dst);
      }
    mc_attention_fwd(q, kf, vf, out, lse, B, T, S, Hq, Hkv, D, qoff, causal, scale);
  }
  mc_kernel_free(kf);
  mc_kernel_free(vf);
}
