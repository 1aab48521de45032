/* Greedy decoding's pick over one row of logits (decode-argmax.c; the twin is argmaxTwin in
 * src/engine/argmax.ts, which must keep these semantics). */
#ifndef MC_DECODE_ARGMAX_H
#define MC_DECODE_ARGMAX_H

#include <stddef.h>

/* The first index holding the largest non-NaN value of x[0, n); 0 when every entry is NaN; -1 when
 * n is 0. Ties go to the lower index, as the sampler's "higher logit, then lower id" order wants. */
long mc_argmax_f32(const float *x, size_t n);

#endif
