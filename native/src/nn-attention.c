/*
 * Attention through GEMM calls, blocked over query rows so a causal block never computes scores for
 * keys it cannot see (about half the work of the full T×S product). Work is split over (batch,
 * kv-head) pairs: the query heads that share a kv head run in the same task, so dK/dV accumulate
 * without races. GEMMs inside a task run on that task's thread (the pool is busy with the tasks).
 * Memory follows the failure policy of internal.h: a task's score blocks come from mc_kernel_alloc
 * (its GEMMs reuse the thread's scratch), decode's from mc_scratch; a task that gets none records the
 * failure and skips its pairs, and the bindings report it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "nn-internal.h"
#ifdef MC_X86
#include "attention-prefill.h"
#endif

#define QBLOCK 64

typedef struct {
  const mc_nn_impl *k;
  const float *q, *kk, *v, *out, *lse_in, *dout;
  const void *kraw, *vraw; /* the cache as given: f32, or bf16 bits when kv_bf16 (decode only) */
  int kv_bf16;
  float *o, *lse, *dq, *dk, *dv;
  int B, T, S, Hq, Hkv, D, qoff, causal, ntasks;
  float scale;
} attn_t;

/* Visible keys for the query block ending at t1 (exclusive). */
static int visible(const attn_t *a, int t1) { return a->causal ? MC_MIN(a->S, a->qoff + t1) : a->S; }

static void fwd_task(void *arg, int task, int tid) {
  attn_t *a = arg;
  long pairs = (long)a->B * a->Hkv;
  long lo = pairs * task / a->ntasks, hi = pairs * (task + 1) / a->ntasks;
  int group = a->Hq / a->Hkv, D = a->D, T = a->T, S = a->S;
  long ldq = (long)a->Hq * D, ldk = (long)a->Hkv * D;
  float *P = mc_kernel_alloc("attention_fwd", sizeof(float) * QBLOCK * (size_t)S);
  if (!P) return;
  for (long pr = lo; pr < hi; pr++) {
    int b = (int)(pr / a->Hkv), hk = (int)(pr % a->Hkv);
    const float *K = a->kk + (long)b * S * ldk + (long)hk * D;
    const float *V = a->v + (long)b * S * ldk + (long)hk * D;
    for (int h = hk * group; h < (hk + 1) * group; h++) {
      const float *Q = a->q + (long)b * T * ldq + (long)h * D;
      float *O = a->o + (long)b * T * ldq + (long)h * D;
      float *L = a->lse + ((long)b * a->Hq + h) * T;
      for (int t0 = 0; t0 < T; t0 += QBLOCK) {
        int t1 = MC_MIN(T, t0 + QBLOCK), n = visible(a, t1);
        mc_sgemm(0, 1, t1 - t0, n, D, a->scale, Q + (long)t0 * ldq, ldq, K, ldk, 0.0f, P, S);
        a->k->attn_fwd_rows(P, S, t0, t1, n, a->qoff, a->causal, L);
        mc_sgemm(0, 0, t1 - t0, D, n, 1.0f, P, S, V, ldk, 0.0f, O + (long)t0 * ldq, ldq);
      }
    }
  }
  mc_kernel_free(P);
}

/* ---- decode (T = 1): split the keys, not the heads ----
 * Per-head GEMVs over a [S, Hkv, D] cache read 64-float pieces of rows Hkv·D apart, which the
 * hardware prefetchers follow poorly. Instead each task takes a contiguous range of positions for
 * every head (one sequential stream through K, then V) and leaves a partial softmax (max, sum,
 * unnormalised output); the ranges are merged afterwards with the usual log-sum-exp rescaling. */

typedef struct {
  const attn_t *a;
  int nsplit;
  float *part; /* per task: o [Hq·D], m [Hq], l [Hq] */
} dec_t;

static void dec_task(void *arg, int task, int tid) {
  const dec_t *d = arg;
  const attn_t *a = d->a;
  const int b = task / d->nsplit, sp = task % d->nsplit, Hq = a->Hq, D = a->D;
  const int n = visible(a, 1);
  const int s0 = (int)((long)n * sp / d->nsplit), s1 = (int)((long)n * (sp + 1) / d->nsplit);
  const long ldk = (long)a->Hkv * D;
  const size_t np = ((size_t)Hq * (size_t)MC_MAX(s1 - s0, 1) + 15) & ~(size_t)15;
  float *P = mc_scratch(MC_SCRATCH_A, sizeof(float) * (np + (size_t)ldk + 16));
  if (!P) return;
  float *o = d->part + (long)task * Hq * (D + 2);
  const size_t esize = a->kv_bf16 ? 2 : 4, boff = (size_t)b * (size_t)a->S * (size_t)ldk * esize;
  a->k->attn_dec_part(a->q + (long)b * Hq * D, (const char *)a->kraw + boff, (const char *)a->vraw + boff, a->kv_bf16,
                      ldk, s0, s1, Hq, Hq / a->Hkv, D, a->scale, P, P + np, o + (long)Hq * D, o + (long)Hq * D + Hq, o);
}

void mc_merge_key_splits(const float *part, int B, int nsplit, int Hq, int D, float *out, float *lse) {
  const long per = (long)Hq * (D + 2);
  for (int b = 0; b < B; b++) {
    const float *pb = part + (long)b * nsplit * per;
    for (int h = 0; h < Hq; h++) {
      float M = -INFINITY;
      for (int sp = 0; sp < nsplit; sp++) M = MC_MAX(M, pb[sp * per + (long)Hq * D + h]);
      float L = 0;
      float *O = out + ((long)b * Hq + h) * D;
      memset(O, 0, sizeof(float) * (size_t)D);
      for (int sp = 0; sp < nsplit; sp++) {
        const float *ps = pb + sp * per;
        const float mh = ps[(long)Hq * D + h];
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

static void attention_decode(const attn_t *a) {
  const int B = a->B, Hq = a->Hq, D = a->D, nt = mc_pool_threads();
  const long keys = visible(a, 1);
  /* split each row's keys until every thread has work, but keep ranges worth a task */
  int nsplit = B >= nt ? 1 : MC_CEIL(nt, B);
  nsplit = (int)MC_MAX(1, MC_MIN((long)nsplit, keys * Hq * D / 32768));
  nsplit = (int)MC_MIN((long)nsplit, MC_MAX(keys, 1));
  const long per = (long)Hq * (D + 2);
  float *part = mc_scratch(MC_SCRATCH_B, sizeof(float) * (size_t)(B * nsplit * per));
  if (!part) return;
  dec_t d = {a, nsplit, part};
  mc_parallel(B * nsplit, dec_task, &d);
  mc_merge_key_splits(part, B, nsplit, Hq, D, a->o, a->lse);
}

void mc_attention_fwd(const float *q, const float *k, const float *v, float *out, float *lse, int B, int T, int S,
                      int Hq, int Hkv, int D, int qoff, int causal, float scale) {
  attn_t a = {.k = mc_nn_active(), .q = q, .kk = k, .v = v, .kraw = k, .vraw = v, .o = out, .lse = lse, .B = B,
              .T = T, .S = S, .Hq = Hq, .Hkv = Hkv, .D = D, .qoff = qoff, .causal = causal, .scale = scale};
  if (T == 1 && B > 0 && S > 0 && visible(&a, 1) > 0) {
    attention_decode(&a);
    return;
  }
#ifdef MC_X86
  if (mc_features().isa == MC_ISA_AVX512) { /* register-tiled, reads K/V in place */
    mc_attention_prefill_avx512(q, k, v, 0, out, lse, B, T, S, Hq, Hkv, D, qoff, causal, scale);
    return;
  }
#endif
  long pairs = (long)B * Hkv, work = pairs * (long)T * S * D;
  a.ntasks = (int)MC_MIN((long)mc_pool_threads(), pairs);
  if (work < 65536 || a.ntasks < 1) a.ntasks = 1;
  mc_parallel(a.ntasks, fwd_task, &a);
}

/* bf16 bits → f32, for the multi-query path over a bf16 cache. */
static float *widen_bf16(const uint16_t *src, size_t n) {
  uint32_t *dst = mc_kernel_alloc("attention_fwd_bf16kv", sizeof(float) * MC_MAX(n, (size_t)1));
  if (dst)
    for (size_t i = 0; i < n; i++) dst[i] = (uint32_t)src[i] << 16;
  return (float *)dst;
}

void mc_attention_fwd_bf16kv(const float *q, const uint16_t *k, const uint16_t *v, float *out, float *lse, int B,
                             int T, int S, int Hq, int Hkv, int D, int qoff, int causal, float scale) {
  attn_t a = {.k = mc_nn_active(), .q = q, .kraw = k, .vraw = v, .kv_bf16 = 1, .o = out, .lse = lse, .B = B, .T = T,
              .S = S, .Hq = Hq, .Hkv = Hkv, .D = D, .qoff = qoff, .causal = causal, .scale = scale};
  if (T == 1 && B > 0 && S > 0 && visible(&a, 1) > 0) {
    attention_decode(&a); /* the bandwidth-bound case: reads the bf16 rows directly */
    return;
  }
#ifdef MC_X86
  if (mc_features().isa == MC_ISA_AVX512) { /* widens each kv head into the task's packing */
    mc_attention_prefill_avx512(q, k, v, 1, out, lse, B, T, S, Hq, Hkv, D, qoff, causal, scale);
    return;
  }
#endif
  /* elsewhere prefill runs through the GEMMs: widen once, then the f32 path */
  const size_t n = (size_t)B * S * Hkv * D;
  float *kf = widen_bf16(k, n), *vf = widen_bf16(v, n);
  if (kf && vf) mc_attention_fwd(q, kf, vf, out, lse, B, T, S, Hq, Hkv, D, qoff, causal, scale);
  mc_kernel_free(kf);
  mc_kernel_free(vf);
}

static void bwd_task(void *arg, int task, int tid) {
  attn_t *a = arg;
  long pairs = (long)a->B * a->Hkv;
  long lo = pairs * task / a->ntasks, hi = pairs * (task + 1) / a->ntasks;
  int group = a->Hq / a->Hkv, D = a->D, T = a->T, S = a->S;
  long ldq = (long)a->Hq * D, ldk = (long)a->Hkv * D;
  /* P and dP: QBLOCK × S score blocks; delta: T row sums of dO·O */
  float *P = mc_kernel_alloc("attention_bwd", sizeof(float) * ((size_t)2 * QBLOCK * (size_t)S + (size_t)T));
  if (!P) return;
  float *dP = P + (size_t)QBLOCK * S, *delta = dP + (size_t)QBLOCK * S;
  for (long pr = lo; pr < hi; pr++) {
    int b = (int)(pr / a->Hkv), hk = (int)(pr % a->Hkv);
    const float *K = a->kk + (long)b * S * ldk + (long)hk * D;
    const float *V = a->v + (long)b * S * ldk + (long)hk * D;
    float *dK = a->dk + (long)b * S * ldk + (long)hk * D;
    float *dV = a->dv + (long)b * S * ldk + (long)hk * D;
    for (int h = hk * group; h < (hk + 1) * group; h++) {
      long qo = (long)b * T * ldq + (long)h * D;
      const float *Q = a->q + qo, *O = a->out + qo, *dO = a->dout + qo;
      float *dQ = a->dq + qo;
      const float *L = a->lse_in + ((long)b * a->Hq + h) * T;
      for (int t = 0; t < T; t++) {
        float d = 0;
        for (int i = 0; i < D; i++) d += dO[(long)t * ldq + i] * O[(long)t * ldq + i];
        delta[t] = d;
      }
      for (int t0 = 0; t0 < T; t0 += QBLOCK) {
        int t1 = MC_MIN(T, t0 + QBLOCK), m = t1 - t0, n = visible(a, t1);
        mc_sgemm(0, 1, m, n, D, a->scale, Q + (long)t0 * ldq, ldq, K, ldk, 0.0f, P, S);
        mc_sgemm(0, 1, m, n, D, 1.0f, dO + (long)t0 * ldq, ldq, V, ldk, 0.0f, dP, S);
        a->k->attn_bwd_rows(P, dP, S, t0, t1, n, a->qoff, a->causal, L, delta);
        /* dV[0:n] += Pᵀ·dO ; dQ = scale·dS·K ; dK[0:n] += scale·dSᵀ·Q. */
        mc_sgemm(1, 0, n, D, m, 1.0f, P, S, dO + (long)t0 * ldq, ldq, 1.0f, dV, ldk);
        mc_sgemm(0, 0, m, D, n, a->scale, dP, S, K, ldk, 0.0f, dQ + (long)t0 * ldq, ldq);
        mc_sgemm(1, 0, n, D, m, a->scale, dP, S, Q + (long)t0 * ldq, ldq, 1.0f, dK, ldk);
      }
    }
  }
  mc_kernel_free(P);
}

void mc_attention_bwd(const float *q, const float *k, const float *v, const float *out, const float *lse,
                      const float *dout, float *dq, float *dk, float *dv, int B, int T, int S, int Hq, int Hkv,
                      int D, int qoff, int causal, float scale) {
  memset(dk, 0, sizeof(float) * (size_t)B * S * Hkv * D);
  memset(dv, 0, sizeof(float) * (size_t)B * S * Hkv * D);
  attn_t a = {.k = mc_nn_active(), .q = q, .kk = k, .v = v, .out = out, .lse_in = lse, .dout = dout, .dq = dq, .dk = dk,
              .dv = dv, .B = B, .T = T, .S = S, .Hq = Hq, .Hkv = Hkv, .D = D, .qoff = qoff, .causal = causal,
              .scale = scale};
  long pairs = (long)B * Hkv, work = pairs * (long)T * S * D;
  a.ntasks = (int)MC_MIN((long)mc_pool_threads(), pairs);
  if (work < 65536 || a.ntasks < 1) a.ntasks = 1;
  mc_parallel(a.ntasks, bwd_task, &a);
}
