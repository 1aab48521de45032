/*
 * Prefill attention on AVX-512 (contract in attention-prefill.h). The generic path (nn-attention.c)
 * runs each query block through two mc_sgemm calls, which pack both operands on every call and widen
 * a bf16 cache into a fresh f32 copy first; at T = 512, 36 heads of 64 that was several times the
 * arithmetic. Here each task packs its kv head once into per-thread scratch — Kᵀ as [D, Sp] (keys
 * contiguous, so 16 keys are one load) and V as [S, Dp] — widening bf16 on the way, then walks its
 * query rows RG at a time: scores of RG rows × 64 keys in 24 accumulators (the last tile of a row group
 * only up to the 16-key vector holding its last key), softmax in place (exp as
 * nn-impl.h's polynomial), then P·V into RG × 64 accumulators, normalised on the way out. A row group
 * stops at the keys its last row can see, so the masked upper triangle costs at most RG−1 rows' worth.
 *
 * Tasks are (batch, kv head, query split): the query heads sharing a kv head reuse its packing; when
 * there are fewer pairs than threads, row groups are dealt round-robin over splits (causal rows get
 * longer, so contiguous ranges would not balance).
 */
#include <math.h>
#include <string.h>

#include "attention-prefill.h"
#include "avx512-util.h"
#include "exp-avx512.h"

#define RG 6  /* query rows per register tile (6 × 4 accumulators) */
#define KC 64 /* keys per score tile, and output columns per P·V tile: 4 vectors */

typedef struct {
  const float *q;
  const void *k, *v;
  int kv_bf16;
  float *o, *lse;
  int B, T, S, Hq, Hkv, D, qoff, causal, qsplit;
  float scale;
} pf_t;

/* Keys visible to query row t. */
static inline int visible(const pf_t *a, int t) { return a->causal ? MC_MIN(a->S, a->qoff + t + 1) : a->S; }

/* P[r, 0:16·NV) = scale · Q[r]·Kᵀ[:, 0:16·NV) for R rows; Kt points at the tile's first key, rows Sp apart.
 * NV < 4 only in a row group's last tile, which then stops at the 16-key vector holding its last key. */
static inline __attribute__((always_inline)) void qk_tile(const int R, const int NV, int D, const float *Q, long ldq,
                                                          const float *Kt, long Sp, float scale, float *P,
                                                          long ldp) {
  __m512 acc[RG][4];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < NV; j++) acc[r][j] = _mm512_setzero_ps();
  for (int d = 0; d < D; d++) {
    const float *kr = Kt + (long)d * Sp;
    __m512 kv[4];
    for (int j = 0; j < NV; j++) kv[j] = _mm512_loadu_ps(kr + 16 * j);
    for (int r = 0; r < R; r++) {
      const __m512 qv = _mm512_set1_ps(Q[(long)r * ldq + d]);
      for (int j = 0; j < NV; j++) acc[r][j] = _mm512_fmadd_ps(qv, kv[j], acc[r][j]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  for (int r = 0; r < R; r++)
    for (int j = 0; j < NV; j++) _mm512_storeu_ps(P + (long)r * ldp + 16 * j, _mm512_mul_ps(acc[r][j], s));
}

/* qk_tile with R and NV as constants (each case its own fully unrolled register tile). */
static void qk_tile_any(int R, int NV, int D, const float *Q, long ldq, const float *Kt, long Sp, float scale,
                        float *P, long ldp) {
#define QK_NV(r)                                                      \
  switch (NV) {                                                       \
    case 4: qk_tile(r, 4, D, Q, ldq, Kt, Sp, scale, P, ldp); break;   \
    case 3: qk_tile(r, 3, D, Q, ldq, Kt, Sp, scale, P, ldp); break;   \
    case 2: qk_tile(r, 2, D, Q, ldq, Kt, Sp, scale, P, ldp); break;   \
    default: qk_tile(r, 1, D, Q, ldq, Kt, Sp, scale, P, ldp); break;  \
  }
  switch (R) {
    case 6: QK_NV(6) break;
    case 5: QK_NV(5) break;
    case 4: QK_NV(4) break;
    case 3: QK_NV(3) break;
    case 2: QK_NV(2) break;
    default: QK_NV(1) break;
  }
#undef QK_NV
}

/* O[r, 0:dn) = inv[r] · Σ_{s<nk} P[r, s]·V[s, 0:64) for R rows (dn ≤ 64 columns stored); V rows Dp apart. */
static inline __attribute__((always_inline)) void pv_tile(const int R, int nk, const float *P, long ldp,
                                                          const float *V, long Dp, const float *inv, float *O,
                                                          long ldo, int dn) {
  __m512 acc[RG][4];
  for (int r = 0; r < R; r++)
    for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();
  for (int s = 0; s < nk; s++) {
    const float *vr = V + (long)s * Dp;
    const __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16);
    const __m512 v2 = _mm512_loadu_ps(vr + 32), v3 = _mm512_loadu_ps(vr + 48);
    for (int r = 0; r < R; r++) {
      const __m512 pv = _mm512_set1_ps(P[(long)r * ldp + s]);
      acc[r][0] = _mm512_fmadd_ps(pv, v0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(pv, v1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(pv, v2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(pv, v3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; r++) {
    const __m512 w = _mm512_set1_ps(inv[r]);
    for (int j = 0; j < 4; j++)
      _mm512_mask_storeu_ps(O + (long)r * ldo + 16 * j, mask16(dn - 16 * j), _mm512_mul_ps(acc[r][j], w));
  }
}

/* One query head's rows of this task: row groups g ≡ sp (mod qsplit). */
static void head_rows(const pf_t *a, int b, int h, int sp, const float *Kt, long Sp, const float *V, long Dp,
                      float *P) {
  const int T = a->T, D = a->D;
  const long ldq = (long)a->Hq * D;
  const float *Q = a->q + (long)b * T * ldq + (long)h * D;
  float *O = a->o + (long)b * T * ldq + (long)h * D;
  float *L = a->lse + ((long)b * a->Hq + h) * T;
  for (int t0 = sp * RG; t0 < T; t0 += a->qsplit * RG) {
    const int R = MC_MIN(RG, T - t0), nk = visible(a, t0 + R - 1);
    const float *Qr = Q + (long)t0 * ldq;
    for (int kc = 0; kc < nk; kc += KC)
      qk_tile_any(R, MC_MIN(4, MC_CEIL(nk - kc, 16)), D, Qr, ldq, Kt + kc, Sp, a->scale, P + kc, Sp);
    float inv[RG];
    for (int r = 0; r < R; r++) {
      const int n = visible(a, t0 + r);
      float mx;
      const float sum = n > 0 ? mc_softmax_row16(P + (long)r * Sp, n, nk, &mx) : 0.0f;
      if (n <= 0) memset(P + (long)r * Sp, 0, sizeof(float) * (size_t)nk);
      inv[r] = n > 0 ? 1.0f / sum : 0.0f;
      L[t0 + r] = n > 0 ? mx + logf(sum) : -INFINITY;
    }
    for (int dc = 0; dc < D; dc += KC) {
      float *Or = O + (long)t0 * ldq + dc;
      const int dn = MC_MIN(KC, D - dc);
      switch (R) {
        case 6: pv_tile(6, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
        case 5: pv_tile(5, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
        case 4: pv_tile(4, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
        case 3: pv_tile(3, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
        case 2: pv_tile(2, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
        default: pv_tile(1, nk, P, Sp, V + dc, Dp, inv, Or, ldq, dn); break;
      }
    }
  }
}

/* V rows [0, n) of a kv head into dst [n, Dp] f32, zero past D. */
static void pack_v(const void *src, int bf16, long ldk, int n, int D, long Dp, float *dst) {
  for (int s = 0; s < n; s++) {
    float *d = dst + (long)s * Dp;
    for (int c = 0; c < Dp; c += 16) {
      const __mmask16 m = mask16(D - c);
      const __m512 x = bf16 ? row16_bf16_f32(src, ldk, s, c, m) : row16_f32(src, ldk, s, c, m);
      _mm512_storeu_ps(d + c, x);
    }
  }
}

static void task(void *arg, int tk, int tid) {
  const pf_t *a = arg;
  const int pr = tk / a->qsplit, sp = tk % a->qsplit;
  const int b = pr / a->Hkv, hk = pr % a->Hkv, D = a->D;
  /* the last row group of this split sees the most keys */
  const int ngroups = MC_CEIL(a->T, RG);
  if (sp >= ngroups) return;
  const int glast = sp + (ngroups - 1 - sp) / a->qsplit * a->qsplit;
  const int nmax = visible(a, MC_MIN(a->T, (glast + 1) * RG) - 1);
  const long Sp = (long)MC_MAX(MC_CEIL(nmax, KC), 1) * KC, Dp = (long)MC_CEIL(D, KC) * KC;
  const size_t floats = (size_t)D * Sp + (size_t)MC_MAX(nmax, 1) * Dp + (size_t)RG * Sp;
  float *Kt = mc_scratch(MC_SCRATCH_A, sizeof(float) * floats);
  if (!Kt) return;
  float *V = Kt + (size_t)D * Sp, *P = V + (size_t)MC_MAX(nmax, 1) * Dp;
  const long ldk = (long)a->Hkv * D;
  const size_t es = a->kv_bf16 ? 2 : 4, off = ((size_t)b * a->S * ldk + (size_t)hk * D) * es;
  const char *K = (const char *)a->k + off, *Vs = (const char *)a->v + off;
  if (nmax > 0) {
    pack_transposed(a->kv_bf16 ? row16_bf16_f32 : row16_f32, (int)es, 1, K, ldk, nmax, D, (int)Sp, Kt);
    pack_v(Vs, a->kv_bf16, ldk, nmax, D, Dp, V);
  } else
    memset(Kt, 0, sizeof(float) * (size_t)D * Sp);
  const int group = a->Hq / a->Hkv;
  for (int h = hk * group; h < (hk + 1) * group; h++) head_rows(a, b, h, sp, Kt, Sp, V, Dp, P);
}

void mc_attention_prefill_avx512(const float *q, const void *k, const void *v, int kv_bf16, float *out,
                                 float *lse, int B, int T, int S, int Hq, int Hkv, int D, int qoff, int causal,
                                 float scale) {
  if (B <= 0 || T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
  pf_t a = {.q = q, .k = k, .v = v, .kv_bf16 = kv_bf16, .o = out, .lse = lse, .B = B, .T = T, .S = S,
            .Hq = Hq, .Hkv = Hkv, .D = D, .qoff = qoff, .causal = causal, .scale = scale};
  const long pairs = (long)B * Hkv, nt = mc_pool_threads();
  const long ngroups = MC_CEIL(T, RG);
  /* enough splits that every thread has a task, never more than there are row groups */
  a.qsplit = (int)MC_MAX(1, MC_MIN(ngroups, pairs >= nt ? 1 : MC_CEIL(2 * nt, pairs)));
  const long work = pairs * (long)T * MC_MAX(S, 1) * D;
  if (work < 65536) /* not worth waking the pool */
    for (long t = 0; t < pairs * a.qsplit; t++) task(&a, (int)t, 0);
  else
    mc_parallel((int)(pairs * a.qsplit), task, &a);
}
