/*
 * Bodies of the NN kernels over a range of rows or elements, written as plain loops that gcc
 * vectorizes for the flags of the file that includes this header (nn-generic.c: baseline x86-64 or
 * any CPU; nn-avx512.c: AVX-512). NN_IMPL names the resulting table. The exp/erf used here are
 * branch-free polynomial approximations (≈1–2 ulp for exp), so the loops vectorize.
 */
#include <math.h>
#include <string.h>
#include "nn-internal.h"

#define MC_PRAGMA(x) _Pragma(#x)
#define SIMD MC_PRAGMA(omp simd)
#define SIMD_SUM(v) MC_PRAGMA(omp simd reduction(+ : v))
#define SIMD_MAX(v) MC_PRAGMA(omp simd reduction(max : v))

static inline float fexp(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365447505531f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  /* n = round(x·log2 e) by the 1.5·2^23 trick, then r = x − n·ln 2 in two parts. */
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } s;
  s.i = ((int32_t)n + 127) << 23;
  float y = p * s.f;
  return x < lo ? 0.0f : y;
}

static inline float fsigmoid(float x) { return 1.0f / (1.0f + fexp(-x)); }

/* erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26), enough for f32 GELU. */
static inline float ferf(float x) {
  float a = x < 0 ? -x : x;
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float y = 1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t * fexp(-a * a);
  return x < 0 ? -y : y;
}

static void rmsnorm_fwd_rows(const float *x, const float *g, float *y, float *rstd, long r0, long r1, int D, float eps) {
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * D;
    float *yr = y + r * D;
    float ss = 0;
    SIMD_SUM(ss) for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
    float rs = 1.0f / sqrtf(ss / D + eps);
    rstd[r] = rs;
    SIMD for (int i = 0; i < D; i++) yr[i] = xr[i] * rs * g[i];
  }
}

static void rmsnorm_bwd_rows(const float *x, const float *g, const float *rstd, const float *dy, float *dx, float *dg,
                             long r0, long r1, int D) {
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float *dxr = dx + r * D;
    float rs = rstd[r];
    float dot = 0;
    SIMD_SUM(dot) for (int i = 0; i < D; i++) dot += dyr[i] * g[i] * xr[i];
    dot *= rs / D;
    SIMD for (int i = 0; i < D; i++) {
      dg[i] += dyr[i] * xr[i] * rs;
      dxr[i] = rs * (dyr[i] * g[i] - xr[i] * rs * dot);
    }
  }
}

static void softmax_fwd_rows(const float *x, float *y, long r0, long r1, int V, int log) {
  for (long r = r0; r < r1; r++) {
    const float *xr = x + r * V;
    float *yr = y + r * V;
    float m = -INFINITY;
    SIMD_MAX(m) for (int i = 0; i < V; i++) m = xr[i] > m ? xr[i] : m;
    float s = 0;
    SIMD_SUM(s) for (int i = 0; i < V; i++) s += fexp(xr[i] - m);
    if (log) {
      float lse = m + logf(s);
      SIMD for (int i = 0; i < V; i++) yr[i] = xr[i] - lse;
    } else {
      float inv = 1.0f / s;
      SIMD for (int i = 0; i < V; i++) yr[i] = fexp(xr[i] - m) * inv;
    }
  }
}

static void softmax_bwd_rows(const float *y, const float *dy, float *dx, long r0, long r1, int V, int log) {
  for (long r = r0; r < r1; r++) {
    const float *yr = y + r * V, *dyr = dy + r * V;
    float *dxr = dx + r * V;
    float s = 0;
    if (log) {
      SIMD_SUM(s) for (int i = 0; i < V; i++) s += dyr[i];
      SIMD for (int i = 0; i < V; i++) dxr[i] = dyr[i] - fexp(yr[i]) * s;
    } else {
      SIMD_SUM(s) for (int i = 0; i < V; i++) s += dyr[i] * yr[i];
      SIMD for (int i = 0; i < V; i++) dxr[i] = yr[i] * (dyr[i] - s);
    }
  }
}

static void ce_fwd_rows(const float *logits, const int32_t *targets, float *lse, long r0, long r1, int V, int ignore,
                        double *sum, long *count, long *bad) {
  for (long r = r0; r < r1; r++) {
    const float *xr = logits + r * V;
    float m = -INFINITY;
    SIMD_MAX(m) for (int i = 0; i < V; i++) m = xr[i] > m ? xr[i] : m;
    float s = 0;
    SIMD_SUM(s) for (int i = 0; i < V; i++) s += fexp(xr[i] - m);
    float z = m + logf(s);
    lse[r] = z;
    int t = targets[r];
    if (t == ignore) continue;
    if (t < 0 || t >= V) {
      if (*bad < 0) *bad = r;
      continue;
    }
    *sum += (double)z - (double)xr[t];
    (*count)++;
  }
}

static void ce_bwd_rows(const float *logits, const int32_t *targets, const float *lse, float *dl, long r0, long r1, int V,
                        float scale, int ignore) {
  for (long r = r0; r < r1; r++) {
    const float *xr = logits + r * V;
    float *dr = dl + r * V;
    int t = targets[r];
    if (t == ignore) {
      memset(dr, 0, sizeof(float) * V);
      continue;
    }
    float z = lse[r];
    SIMD for (int i = 0; i < V; i++) dr[i] = fexp(xr[i] - z) * scale;
    dr[t] -= scale;
  }
}

static void swiglu_fwd_range(const float *g, const float *u, float *y, long i0, long i1) {
  SIMD for (long i = i0; i < i1; i++) y[i] = g[i] * fsigmoid(g[i]) * u[i];
}

static void swiglu_bwd_range(const float *g, const float *u, const float *dy, float *dg, float *du, long i0, long i1) {
  SIMD for (long i = i0; i < i1; i++) {
    float s = fsigmoid(g[i]);
    du[i] = dy[i] * g[i] * s;
    dg[i] = dy[i] * u[i] * (s + g[i] * s * (1.0f - s));
  }
}

/* Rows are (b, t) pairs; each row holds H heads of D. */
static void rope_rows(const float *x, const float *cs, const float *sn, float *y, long r0, long r1, int T, int H, int D,
                      int pos0, int interleaved, int inverse) {
  int half = D / 2;
  float sign = inverse ? -1.0f : 1.0f;
  for (long r = r0; r < r1; r++) {
    const float *c = cs + (long)(pos0 + r % T) * half;
    const float *s = sn + (long)(pos0 + r % T) * half;
    for (int h = 0; h < H; h++) {
      const float *xr = x + (r * H + h) * D;
      float *yr = y + (r * H + h) * D;
      if (interleaved) {
        for (int i = 0; i < half; i++) {
          float x1 = xr[2 * i], x2 = xr[2 * i + 1], si = sign * s[i];
          yr[2 * i] = x1 * c[i] - x2 * si;
          yr[2 * i + 1] = x2 * c[i] + x1 * si;
        }
      } else {
        SIMD for (int i = 0; i < half; i++) {
          float x1 = xr[i], x2 = xr[i + half], si = sign * s[i];
          yr[i] = x1 * c[i] - x2 * si;
          yr[i + half] = x2 * c[i] + x1 * si;
        }
      }
    }
  }
}

static void adamw_range(float *p, const float *g, float *m, float *v, long i0, long i1, float lr, float b1, float b2,
                        float eps, float wd, float bc1, float bc2) {
  float decay = 1.0f - lr * wd, step = lr / bc1, ibc2 = 1.0f / bc2;
  SIMD for (long i = i0; i < i1; i++) {
    float gi = g[i];
    float mi = m[i] = b1 * m[i] + (1.0f - b1) * gi;
    float vi = v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    p[i] = p[i] * decay - step * mi / (sqrtf(vi * ibc2) + eps);
  }
}

static void unary_range(int op, const float *x, float *y, long i0, long i1) {
  switch (op) {
    case MC_NEG: SIMD for (long i = i0; i < i1; i++) y[i] = -x[i]; break;
    case MC_EXP: SIMD for (long i = i0; i < i1; i++) y[i] = fexp(x[i]); break;
    case MC_LOG: for (long i = i0; i < i1; i++) y[i] = logf(x[i]); break;
    case MC_SQRT: SIMD for (long i = i0; i < i1; i++) y[i] = sqrtf(x[i]); break;
    case MC_RSQRT: SIMD for (long i = i0; i < i1; i++) y[i] = 1.0f / sqrtf(x[i]); break;
    case MC_SIGMOID: SIMD for (long i = i0; i < i1; i++) y[i] = fsigmoid(x[i]); break;
    case MC_TANH: SIMD for (long i = i0; i < i1; i++) y[i] = 1.0f - 2.0f / (fexp(2.0f * x[i]) + 1.0f); break;
    case MC_SILU: SIMD for (long i = i0; i < i1; i++) y[i] = x[i] * fsigmoid(x[i]); break;
    case MC_GELU: SIMD for (long i = i0; i < i1; i++) y[i] = 0.5f * x[i] * (1.0f + ferf(x[i] * 0.70710678118654752f)); break;
    case MC_RELU: SIMD for (long i = i0; i < i1; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case MC_SQUARE: SIMD for (long i = i0; i < i1; i++) y[i] = x[i] * x[i]; break;
    case MC_ABS: SIMD for (long i = i0; i < i1; i++) y[i] = fabsf(x[i]); break;
  }
}

static void unary_grad_range(int op, const float *x, const float *y, const float *dy, float *dx, long i0, long i1) {
  switch (op) {
    case MC_NEG: SIMD for (long i = i0; i < i1; i++) dx[i] = -dy[i]; break;
    case MC_EXP: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * y[i]; break;
    case MC_LOG: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] / x[i]; break;
    case MC_SQRT: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * 0.5f / y[i]; break;
    case MC_RSQRT: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * -0.5f * y[i] * y[i] * y[i]; break;
    case MC_SIGMOID: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]); break;
    case MC_TANH: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]); break;
    case MC_SILU:
      SIMD for (long i = i0; i < i1; i++) {
        float s = fsigmoid(x[i]);
        dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
      }
      break;
    case MC_GELU:
      SIMD for (long i = i0; i < i1; i++) {
        float cdf = 0.5f * (1.0f + ferf(x[i] * 0.70710678118654752f));
        dx[i] = dy[i] * (cdf + x[i] * 0.39894228040143268f * fexp(-0.5f * x[i] * x[i]));
      }
      break;
    case MC_RELU: SIMD for (long i = i0; i < i1; i++) dx[i] = x[i] > 0 ? dy[i] : 0.0f; break;
    case MC_SQUARE: SIMD for (long i = i0; i < i1; i++) dx[i] = dy[i] * 2.0f * x[i]; break;
    case MC_ABS: SIMD for (long i = i0; i < i1; i++) dx[i] = x[i] > 0 ? dy[i] : (x[i] < 0 ? -dy[i] : 0.0f); break;
  }
}

#define BINARY_LOOP(EXPR)                                                        \
  if (period == n) {                                                             \
    SIMD for (long i = i0; i < i1; i++) { float A = a[i], B = b[i]; out[i] = (EXPR); } \
  } else if (period == 1) {                                                      \
    float B = b[0];                                                              \
    SIMD for (long i = i0; i < i1; i++) { float A = a[i]; out[i] = (EXPR); }     \
  } else {                                                                       \
    for (long row = i0 / period; row * period < i1; row++) {                     \
      long s = row * period, e = s + period;                                     \
      SIMD for (long i = s; i < e; i++) { float A = a[i], B = b[i - s]; out[i] = (EXPR); } \
    }                                                                            \
  }

/* For the broadcast case i0 and i1 are multiples of period (nn.c splits work that way). */
static void binary_range(int op, const float *a, const float *b, float *out, long n, long period, long i0, long i1) {
  switch (op) {
    case MC_ADD: BINARY_LOOP(A + B) break;
    case MC_SUB: BINARY_LOOP(A - B) break;
    case MC_MUL: BINARY_LOOP(A * B) break;
    case MC_DIV: BINARY_LOOP(A / B) break;
    case MC_MAXIMUM: BINARY_LOOP((A >= B || A != A) ? A : B) break;
    case MC_MINIMUM: BINARY_LOOP((A <= B || A != A) ? A : B) break;
  }
}

static void affine_range(const float *x, float *y, float s, float t, long i0, long i1) {
  SIMD for (long i = i0; i < i1; i++) y[i] = x[i] * s + t;
}

/* Sum or max over r for outer rows [o0, o1). */
static void reduce_range(int op, const float *src, float *dst, long o0, long o1, long r, long inner) {
  for (long o = o0; o < o1; o++) {
    float *d = dst + o * inner;
    const float *s = src + o * r * inner;
    if (op == 0) {
      memset(d, 0, sizeof(float) * inner);
      for (long k = 0; k < r; k++) SIMD for (long i = 0; i < inner; i++) d[i] += s[k * inner + i];
    } else {
      for (long i = 0; i < inner; i++) d[i] = -INFINITY;
      for (long k = 0; k < r; k++) SIMD for (long i = 0; i < inner; i++) {
        float v = s[k * inner + i];
        d[i] = (v > d[i] || v != v) ? v : d[i];
      }
    }
  }
}

/* Attention rows of one query block: P[t, 0:n) = softmax of the visible scores (n = visible keys of
 * query t0+t), zero past it; lse[t] is kept for the backward. */
static void attn_fwd_rows(float *P, long ldp, int t0, int t1, int ncols, int qoff, int causal, float *lse) {
  for (int t = t0; t < t1; t++) {
    float *row = P + (long)(t - t0) * ldp;
    int n = causal ? MC_NN_MIN(ncols, qoff + t + 1) : ncols;
    float m = -INFINITY;
    SIMD_MAX(m) for (int s = 0; s < n; s++) m = row[s] > m ? row[s] : m;
    float sum = 0;
    SIMD_SUM(sum) for (int s = 0; s < n; s++) sum += (row[s] = fexp(row[s] - m));
    float inv = 1.0f / sum;
    SIMD for (int s = 0; s < n; s++) row[s] *= inv;
    for (int s = n; s < ncols; s++) row[s] = 0.0f;
    lse[t] = m + logf(sum);
  }
}

/* Backward rows: P = exp(scores − lse) on the visible part (0 elsewhere); dP ← P ⊙ (dP − Δ_t). */
static void attn_bwd_rows(float *P, float *dP, long ldp, int t0, int t1, int ncols, int qoff, int causal,
                          const float *lse, const float *delta) {
  for (int t = t0; t < t1; t++) {
    float *row = P + (long)(t - t0) * ldp, *drow = dP + (long)(t - t0) * ldp;
    int n = causal ? MC_NN_MIN(ncols, qoff + t + 1) : ncols;
    float z = lse[t], d = delta[t];
    SIMD for (int s = 0; s < n; s++) {
      float p = fexp(row[s] - z);
      row[s] = p;
      drow[s] = p * (drow[s] - d);
    }
    for (int s = n; s < ncols; s++) row[s] = drow[s] = 0.0f;
  }
}

/* Row s of a cache [S, ldk] as f32: in place when it is f32; bf16 bits are widened into tmp (L1-sized:
 * one row holds every kv head of a position), so a bf16 cache streams half the bytes. */
static inline const float *kv_row(const void *cache, int bf16, long s, long ldk, float *tmp) {
  if (!bf16) return (const float *)cache + s * ldk;
  const uint16_t *r = (const uint16_t *)cache + s * ldk;
  SIMD for (long i = 0; i < ldk; i++) {
    const uint32_t u = (uint32_t)r[i] << 16;
    memcpy(tmp + i, &u, sizeof u);
  }
  return tmp;
}

/* Decode attention (one query row) over keys [s0, s1), every query head: a partial softmax that
 * mc_attention_fwd merges across key ranges (the flash-decoding split). Rows of k and v (all Hkv heads
 * of a position, ldk elements apart; f32, or bf16 when `bf16`) are read in order, once each, so a
 * thread streams one contiguous block of the cache. Writes m[h] = max score, l[h] = Σ exp(score − m[h])
 * and the unnormalised o[h·D + i] = Σ exp(score − m[h])·v; an empty range gives m = −inf, l = 0, o = 0.
 * P: Hq·(s1 − s0) floats; tmp: ldk floats. */
static void attn_dec_part(const float *q, const void *k, const void *v, int bf16, long ldk, int s0, int s1, int Hq,
                          int group, int D, float scale, float *P, float *tmp, float *m, float *l, float *o) {
  const int n = s1 - s0;
  for (int s = 0; s < n; s++) {
    const float *kr = kv_row(k, bf16, s0 + s, ldk, tmp);
    for (int h = 0; h < Hq; h++) {
      const float *kh = kr + (long)(h / group) * D, *qh = q + (long)h * D;
      float d = 0;
      SIMD_SUM(d) for (int i = 0; i < D; i++) d += qh[i] * kh[i];
      P[(long)h * n + s] = d * scale;
    }
  }
  for (int h = 0; h < Hq; h++) {
    float *row = P + (long)h * n;
    float mx = -INFINITY;
    SIMD_MAX(mx) for (int s = 0; s < n; s++) mx = row[s] > mx ? row[s] : mx;
    float sum = 0;
    SIMD_SUM(sum) for (int s = 0; s < n; s++) sum += (row[s] = fexp(row[s] - mx));
    m[h] = mx;
    l[h] = sum;
  }
  memset(o, 0, sizeof(float) * (size_t)Hq * D);
  for (int s = 0; s < n; s++) {
    const float *vr = kv_row(v, bf16, s0 + s, ldk, tmp);
    for (int h = 0; h < Hq; h++) {
      const float p = P[(long)h * n + s], *vh = vr + (long)(h / group) * D;
      float *oh = o + (long)h * D;
      SIMD for (int i = 0; i < D; i++) oh[i] += p * vh[i];
    }
  }
}

const mc_nn_impl NN_IMPL = {
  rmsnorm_fwd_rows, rmsnorm_bwd_rows, softmax_fwd_rows, softmax_bwd_rows, ce_fwd_rows, ce_bwd_rows,
  swiglu_fwd_range, swiglu_bwd_range, rope_rows, adamw_range, unary_range, unary_grad_range, binary_range,
  affine_range, reduce_range, attn_fwd_rows, attn_bwd_rows, attn_dec_part,
};
