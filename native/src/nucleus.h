/* Top-p's linear passes on a flat row (nucleus.c; the twin is nucleusByBuckets in sampler-stages.ts). */
#ifndef MC_NUCLEUS_H
#define MC_NUCLEUS_H

#include <stdint.h>

/* Over n entries with max logit m and probabilities summing to ~1: returns w, the count of entries of
 * buckets better than the cut's, now ids/logits/probs[0, w) in place order; the cut bucket's entries go
 * to cut_*[0, *n_cut); *before is the probability mass of the better buckets. bucket: n scratch entries. */
int mc_nucleus_split(int n, float m, double p, int32_t *ids, float *logits, float *probs, uint16_t *bucket,
                     int32_t *cut_ids, float *cut_logits, float *cut_probs, int *n_cut, double *before);

/* The same split, visiting only entries not below the logit `guess` while that provably gives the
 * full pass's result (NaN: the threshold mc_nucleus_split derives from p; tests pass others). */
int mc_nucleus_split_at(int n, float m, double p, int32_t *ids, float *logits, float *probs, uint16_t *bucket,
                        int32_t *cut_ids, float *cut_logits, float *cut_probs, int *n_cut, double *before,
                        double guess);

#endif
