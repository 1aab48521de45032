/*
 * A quantized decoder layer for one token in one call, every layer of the model in one call, and the whole
 * token from its embedding to its logits in one call (qdecode-layer.h). Op by op, a decode step crossed into the addon nine times a layer (q/k/v, the fused
 * RoPE + append + attention, o, residual + norm, gate/up, SwiGLU, down, residual + norm) with JavaScript
 * in between: tensor views, argument checks, scope bookkeeping, ~20 µs a call on the 2B-wide W4 model and
 * most of it cache misses, since each token's weight stream has evicted everything that JavaScript
 * touches. Here the same kernels run back to back from one plan per layer, with the intermediates in one
 * scratch block; mc_qdecode_layers passes each layer's sum and norm to the next through two more, and
 * mc_qdecode_token adds the first norm before and the logit scale and head after them.
 */
#include "qdecode-layer.h"

#include <stddef.h>

#include "decode-step.h"
#include "internal.h"
#include "nn.h"
#include "prefill-residual.h"

int mc_qlayer_consistent(const mc_qlayer *L) {
  const int d = L->d, q = L->Hq * L->D, kv = L->Hkv * L->D;
  return d > 0 && L->ff > 0 && L->Hq > 0 && L->Hkv > 0 && L->D > 0 && L->D % 2 == 0 && L->qkv.K == d &&
         L->qkv.count == 3 && L->qkv.n[0] == q && L->qkv.n[1] == kv && L->qkv.n[2] == kv && L->o.K == q &&
         L->o.total == d && L->gate_up.K == d && L->gate_up.count == 2 && L->gate_up.n[0] == L->ff &&
         L->gate_up.n[1] == L->ff && L->down.K == L->ff && L->down.total == d;
}

/* The scratch block, in floats: each intermediate in the order the layer makes it. */
typedef struct {
  long qkv, qr, lse, att, o, h, hn, gu, act, dn, end;
} layout_t;

static layout_t layout(const mc_qlayer *L) {
  layout_t s;
  const long q = (long)L->Hq * L->D, d = L->d;
  s.qkv = 0;
  s.qr = s.qkv + L->qkv.total;  /* RoPE(q) */
  s.lse = s.qr + q;
  s.att = s.lse + L->Hq;        /* the heads' outputs, o_proj's input */
  s.o = s.att + q;
  s.h = s.o + d;                /* x + s·o */
  s.hn = s.h + d;               /* its post-attention norm */
  s.gu = s.hn + d;
  s.act = s.gu + L->gate_up.total;
  s.dn = s.act + L->ff;
  s.end = s.dn + d;
  return s;
}

long mc_qdecode_layer_scratch(const mc_qlayer *L) { return layout(L).end; }

int mc_qdecode_layer(const mc_qlayer *L, const float *x, const float *xn, const float *next_gain, int pos, void *kc,
                     void *vc, int bf16, const float *cos, const float *sin, float *sum, float *norm, float *scratch) {
  if (!mc_decode_step_applies(pos, bf16, L->Hq, L->Hkv, L->D)) return 0;
  const layout_t s = layout(L);
  float *w = scratch;
  const long q = (long)L->Hq * L->D, kv = (long)L->Hkv * L->D;
  mc_qmatmul_run(1, xn, L->d, &L->qkv, w + s.qkv, L->qkv.total);
  /* k (the middle third) is rotated in place, as the per-op path consumes its view of the same buffer */
  mc_decode_rope_append_attend(w + s.qkv, w + s.qkv + q, w + s.qkv + q + kv, cos, sin, pos, kc, vc, bf16, w + s.qr,
                               w + s.att, w + s.lse, L->Hq, L->Hkv, L->D, L->attn_scale);
  mc_qmatmul_run(1, w + s.att, q, &L->o, w + s.o, L->o.total);
  mc_prefill_residual(x, w + s.o, L->residual, w + s.h, L->post_gain, w + s.hn, 1, L->d, L->eps);
  mc_qmatmul_run(1, w + s.hn, L->d, &L->gate_up, w + s.gu, L->gate_up.total);
  mc_swiglu_fwd(w + s.gu, w + s.gu + L->ff, w + s.act, L->ff);
  mc_qmatmul_run(1, w + s.act, L->ff, &L->down, w + s.dn, L->down.total);
  mc_prefill_residual(w + s.h, w + s.dn, L->residual, sum, next_gain, next_gain ? norm : NULL, 1, L->d, L->eps);
  return 1;
}

/* after the largest layer scratch: two (sum, norm) pairs the layers pass along in turn */
long mc_qdecode_layers_scratch(const mc_qlayer *const *L, int n) {
  long most = 0;
  for (int i = 0; i < n; i++) most = MC_MAX(most, mc_qdecode_layer_scratch(L[i]));
  return most + 4L * (n > 0 ? L[0]->d : 0);
}

/* Whether every layer's attention step runs at pos (decode-step.h). */
static int stack_applies(const mc_qlayer *const *L, int n, int pos, int bf16) {
  if (n < 1) return 0;
  for (int i = 0; i < n; i++)
    if (!mc_decode_step_applies(pos, bf16, L[i]->Hq, L[i]->Hkv, L[i]->D)) return 0;
  return 1;
}

int mc_qdecode_layers(const mc_qlayer *const *L, int n, const float *x, const float *xn,
                      const float *const *next_gain, int pos, void *const *kc, void *const *vc, int bf16,
                      const float *cos, const float *sin, float *sum, float *norm, float *scratch) {
  if (!stack_applies(L, n, pos, bf16)) return 0;
  const long d = L[0]->d;
  float *pass = scratch + mc_qdecode_layers_scratch(L, n) - 4 * d;
  const float *in = x, *in_n = xn;
  for (int i = 0; i < n; i++) {
    float *out = i == n - 1 ? sum : pass + (i % 2) * 2 * d, *out_n = i == n - 1 ? norm : out + d;
    mc_qdecode_layer(L[i], in, in_n, next_gain[i], pos, kc[i], vc[i], bf16, cos, sin, out, out_n, scratch);
    in = out, in_n = out_n;
  }
  return 1;
}

/* after the layers' scratch: the first norm, the last layer's sum and norm, the scaled norm and one rstd */
long mc_qdecode_token_scratch(const mc_qlayer *const *L, int n) {
  return mc_qdecode_layers_scratch(L, n) + 4L * (n > 0 ? L[0]->d : 0) + 1;
}

int mc_qdecode_token(const mc_qlayer *const *L, int n, const float *x, const float *first_gain,
                     const float *const *next_gain, int pos, void *const *kc, void *const *vc, int bf16,
                     const float *cos, const float *sin, float logit_scale, const mc_qrun *head, float *logits,
                     float *scratch) {
  if (!stack_applies(L, n, pos, bf16)) return 0;
  const long d = L[0]->d;
  float *xn = scratch + mc_qdecode_layers_scratch(L, n), *sum = xn + d, *norm = sum + d, *scaled = norm + d,
        *rstd = scaled + d;
  /* what MiniCPM.hidden runs before and logitsFromHidden after the layers: rmsNorm, mulScalar, the head */
  mc_rmsnorm_fwd(x, first_gain, xn, rstd, 1, (int)d, L[0]->eps);
  mc_qdecode_layers(L, n, x, xn, next_gain, pos, kc, vc, bf16, cos, sin, sum, norm, scratch);
  const float *h = norm;
  if (logit_scale != 1.0f) {
    mc_affine(norm, scaled, d, logit_scale, 0.0f);
    h = scaled;
  }
  mc_qmatmul_run(1, h, d, head, logits, head->total);
  return 1;
}
