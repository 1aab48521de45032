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

#endif
