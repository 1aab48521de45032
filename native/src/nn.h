/*
 * minicpm native kernels, part 2: the row-wise and elementwise operations of training and inference
 * (RMSNorm, softmax, cross-entropy, SwiGLU, RoPE, AdamW, unary/binary maps, reductions). f32, contiguous,
 * row-major. Each has a TypeScript twin in src/backends/cpu/ that the tests hold it to.
 * A kernel that runs out of memory returns early and leaves a record (internal.h, kernel-alloc.c) that
 * the binding turns into an error: outputs of such a call are unspecified.
 */
#ifndef MC_NN_H
#define MC_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Order matches UnaryOp in src/tensor/op-names.ts. */
typedef enum {
  MC_NEG, MC_EXP, MC_LOG, MC_SQRT, MC_RSQRT, MC_SIGMOID, MC_TANH, MC_SILU, MC_GELU, MC_RELU, MC_SQUARE, MC_ABS
} mc_unary_op;
/* Order matches BinaryOp. */
typedef enum { MC_ADD, MC_SUB, MC_MUL, MC_DIV, MC_MAXIMUM, MC_MINIMUM } mc_binary_op;

void mc_rmsnorm_fwd(const float *x, const float *g, float *y, float *rstd, long rows, int D, float eps);
/* dg is overwritten with the sum over rows. */
void mc_rmsnorm_bwd(const float *x, const float *g, const float *rstd, const float *dy, float *dx, float *dg,
                    long rows, int D);
void mc_softmax_fwd(const float *x, float *y, long rows, int V, int log);
void mc_softmax_bwd(const float *y, const float *dy, float *dx, long rows, int V, int log);
/* Writes lse per row; out[0] = Σ over non-ignored rows of (lse − logit[target]), out[1] = their count.
 * Returns the first row whose target is out of range and not ignored, or −1. */
long mc_ce_fwd(const float *logits, const int32_t *targets, float *lse, long rows, int V, int ignore, double *out);
void mc_ce_bwd(const float *logits, const int32_t *targets, const float *lse, float *dlogits, long rows, int V,
               float scale, int ignore);
void mc_swiglu_fwd(const float *g, const float *u, float *y, long n);
void mc_swiglu_bwd(const float *g, const float *u, const float *dy, float *dg, float *du, long n);
/* x, y: [B, T, H, D]; cos/sin: [positions, D/2]. */
void mc_rope(const float *x, const float *cos, const float *sin, float *y, int B, int T, int H, int D, int pos0,
             int interleaved, int inverse);
void mc_adamw(float *p, const float *g, float *m, float *v, long n, float lr, float b1, float b2, float eps,
              float wd, float bc1, float bc2);
void mc_unary(int op, const float *x, float *y, long n);
/* dx = dy · op'(x) given y = op(x). */
void mc_unary_grad(int op, const float *x, const float *y, const float *dy, float *dx, long n);
/* out[i] = a[i] op b[i % period] (period = n: same shape; period = 1: scalar b). */
void mc_binary(int op, const float *a, const float *b, float *out, long n, long period);
/* out = a·s + t elementwise. */
void mc_affine(const float *x, float *y, long n, float s, float t);
/* dst[o, i] = Σ_r src[o, r, i] (op 0) or max_r (op 1). */
void mc_reduce(int op, const float *src, float *dst, long outer, long r, long inner);

/* Causal (or full) attention with GQA over [B, T, H, D] layouts: q [B,T,Hq,D], k/v [B,S,Hkv,D],
 * out [B,T,Hq,D], lse [B,Hq,T]. Query t sits at position qoff + t. */
void mc_attention_fwd(const float *q, const float *k, const float *v, float *out, float *lse, int B, int T, int S,
                      int Hq, int Hkv, int D, int qoff, int causal, float scale);
/* The same with k/v as bf16 bits (a bf16 KV cache): decode reads them directly, T > 1 widens them first. */
void mc_attention_fwd_bf16kv(const float *q, const uint16_t *k, const uint16_t *v, float *out, float *lse, int B,
                             int T, int S, int Hq, int Hkv, int D, int qoff, int causal, float scale);
/* The split-decode merge: `part` holds B·nsplit task results, each o [Hq·D], m [Hq], l [Hq] (a key range's
 * unnormalised output, its running max and exp-sum); rescaled by log-sum-exp into out [B,Hq,D] and
 * lse [B,Hq]. A range with m = −inf (no keys) adds nothing. */
void mc_merge_key_splits(const float *part, int B, int nsplit, int Hq, int D, float *out, float *lse);
/* dq is overwritten; dk and dv are overwritten too (zeroed first). */
void mc_attention_bwd(const float *q, const float *k, const float *v, const float *out, const float *lse,
                      const float *dout, float *dq, float *dk, float *dv, int B, int T, int S, int Hq, int Hkv,
                      int D, int qoff, int causal, float scale);

#ifdef __cplusplus
}
#endif
#endif
