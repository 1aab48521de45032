/* A quantized model's whole decoder layer for one token of one sequence in one call (qdecode-layer.c).
 * Twin: the per-op decode step of MiniCPM (src/models/minicpm.ts, layerStep), which runs the same kernels
 * one addon call at a time. */
#ifndef MC_QDECODE_LAYER_H
#define MC_QDECODE_LAYER_H

#include "qmatmul.h"

/* What stays fixed from token to token: the four projection calls (q/k/v fused in that order, o,
 * gate/up fused, down), the post-attention RMSNorm gain [d] and the sizes. */
typedef struct {
  mc_qrun qkv, o, gate_up, down;
  const float *post_gain;
  int d, ff, Hq, Hkv, D;
  float eps, residual, attn_scale;
} mc_qlayer;

/* Whether L's runs fit its sizes (q/k/v = Hq·D, Hkv·D, Hkv·D rows over d inputs; o d over Hq·D; gate/up
 * ff, ff over d; down d over ff) and D is even; 0 names nothing, the caller says what is wrong. */
int mc_qlayer_consistent(const mc_qlayer *L);

/* Floats of scratch mc_qdecode_layer needs. */
long mc_qdecode_layer_scratch(const mc_qlayer *L);

/* Layer L on x [d] (the residual stream) with its input norm xn [d], at position pos of the cache
 * k, v [capacity, Hkv, D] (bf16 bits when `bf16`, else f32; row pos is written) with RoPE tables cos/sin
 * [.., D/2]: sum [d] = the layer's output, norm [d] = RMSNorm(sum)·next_gain (the next layer's input norm
 * or the final one; skipped when next_gain is NULL). sum and norm must not overlap x, xn or scratch.
 * Returns 0 without touching anything where the fused attention step declines (decode-step.h), 1 when
 * done. Every part is the kernel the per-op path calls, in the same order, so the outputs and the cache
 * equal it bit for bit. */
int mc_qdecode_layer(const mc_qlayer *L, const float *x, const float *xn, const float *next_gain, int pos, void *kc,
                     void *vc, int bf16, const float *cos, const float *sin, float *sum, float *norm, float *scratch);

/* Layers L[0..n) in turn for one token (what MiniCPM runs layer by layer, with no JavaScript between them:
 * on the 2B-wide W4 model that was ~85 µs a layer, its data evicted by each token's weight stream): x, xn
 * go into L[0]; each layer's sum and norm into the next; the last's into sum, norm. next_gain[i], kc[i],
 * vc[i] are layer i's; every layer has L[0]'s d. scratch: mc_qdecode_layers_scratch floats. Returns 0
 * without touching anything where the attention step declines, else 1. */
long mc_qdecode_layers_scratch(const mc_qlayer *const *L, int n);
int mc_qdecode_layers(const mc_qlayer *const *L, int n, const float *x, const float *xn,
                      const float *const *next_gain, int pos, void *const *kc, void *const *vc, int bf16,
                      const float *cos, const float *sin, float *sum, float *norm, float *scratch);

/* The whole token from x [d], its scaled embedding: RMSNorm(x)·first_gain, the layers as
 * mc_qdecode_layers (the last next_gain being the final norm's), that norm times logit_scale (skipped at 1)
 * and logits [head->total] = head · it (head->K == d). The same kernels as MiniCPM's forward op by op
 * (rmsNorm, the layers, mulScalar, the head's qmatmul), so the logits equal it bit for bit. logits must
 * not overlap x or scratch (mc_qdecode_token_scratch floats). Returns 0 without touching anything where
 * the attention step declines, else 1. */
long mc_qdecode_token_scratch(const mc_qlayer *const *L, int n);
int mc_qdecode_token(const mc_qlayer *const *L, int n, const float *x, const float *first_gain,
                     const float *const *next_gain, int pos, void *const *kc, void *const *vc, int bf16,
                     const float *cos, const float *sin, float logit_scale, const mc_qrun *head, float *logits,
                     float *scratch);

#endif
