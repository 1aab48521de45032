/* The per-ISA table of NN kernel bodies (nn-impl.h) used by the dispatcher in nn.c. */
#ifndef MC_NN_INTERNAL_H
#define MC_NN_INTERNAL_H
#include <stdint.h>
#include "nn.h"

typedef struct {
  void (*rmsnorm_fwd)(const float *, const float *, float *, float *, long, long, int, float);
  void (*rmsnorm_bwd)(const float *, const float *, const float *, const float *, float *, float *, long, long, int);
  void (*softmax_fwd)(const float *, float *, long, long, int, int);
  void (*softmax_bwd)(const float *, const float *, float *, long, long, int, int);
  void (*ce_fwd)(const float *, const int32_t *, float *, long, long, int, int, double *, long *, long *);
  void (*ce_bwd)(const float *, const int32_t *, const float *, float *, long, long, int, float, int);
  void (*swiglu_fwd)(const float *, const float *, float *, long, long);
  void (*swiglu_bwd)(const float *, const float *, const float *, float *, float *, long, long);
  void (*rope)(const float *, const float *, const float *, float *, long, long, int, int, int, int, int, int);
  void (*adamw)(float *, const float *, float *, float *, long, long, float, float, float, float, float, float, float);
  void (*unary)(int, const float *, float *, long, long);
  void (*unary_grad)(int, const float *, const float *, const float *, float *, long, long);
  void (*binary)(int, const float *, const float *, float *, long, long, long, long);
  void (*affine)(const float *, float *, float, float, long, long);
  void (*reduce)(int, const float *, float *, long, long, long, long);
  void (*attn_fwd_rows)(float *, long, int, int, int, int, int, float *);
  void (*attn_bwd_rows)(float *, float *, long, int, int, int, int, int, const float *, const float *);
  void (*attn_dec_part)(const float *, const void *, const void *, int, long, int, int, int, int, int, float, float *,
                        float *, float *, float *, float *);
} mc_nn_impl;

#define MC_NN_MIN(a, b) ((a) < (b) ? (a) : (b))

extern const mc_nn_impl mc_nn_generic;
/* The table for this CPU (AVX-512 when present). */
const mc_nn_impl *mc_nn_active(void);
/* How many pool tasks `units` independent units of `cost` elements each are worth: one below ~32K
 * elements in all (a hand-off to the pool costs more than the work), else one per thread, at most one a unit. */
int mc_nn_tasks(long units, long cost);
#if defined(__x86_64__) || defined(_M_X64)
extern const mc_nn_impl mc_nn_avx512;
#endif
#endif
