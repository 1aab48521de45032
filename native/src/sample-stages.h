/*
 * The sampler's linear passes over a candidate set (sample-stages.c). Each is the C twin of a loop in
 * src/engine/candidates.ts / sampler-stages.ts and keeps its arithmetic exactly (float entries, double
 * products and sums, the same visiting order), so a seed draws the same ids with or without the addon.
 */
#ifndef MC_SAMPLE_STAGES_H
#define MC_SAMPLE_STAGES_H

#include <stddef.h>
#include <stdint.h>

/* l[i] = (float)(l[i] * inv), the product taken in double (JavaScript's `l[i] *= inv` on a Float32Array). */
void mc_sample_scale(float *l, size_t n, double inv);

/* The k best (higher logit, ties to the lower id) of ids/l[0, n) into ids/l[0, k), in the layout of
 * Candidates.heapSelect's bounded min-heap; h_ids/h_l: k scratch entries. 1 <= k < n. */
void mc_sample_heap_topk(int32_t *ids, float *l, size_t n, size_t k, int32_t *h_ids, float *h_l);

/* Positions of the k best entries of ids/l[0, n), best first, into out[0, k) (Candidates.bestPositions). */
void mc_sample_best_positions(const int32_t *ids, const float *l, size_t n, size_t k, int32_t *out);

/* Keeps entries with l[i] >= floor in place order (ids, logits and probs move together); when
 * renorm, divides the kept probs by their sequential double sum. Returns how many are kept. */
size_t mc_sample_keep_at_least(int32_t *ids, float *l, float *probs, size_t n, double floor, int renorm);

/* Inverse-CDF pick: the first i with u < probs[0] + ... + probs[i] (double running sum); ids[n - 1]
 * when rounding leaves u above the total. n >= 1. */
int32_t mc_sample_draw(const int32_t *ids, const float *probs, size_t n, double u);

/* probs[0, n) times 1 / (s0 + s1 + (s2 + s3)), the s* four interleaved double partial sums
 * (sampler-stages.ts's renormalize). */
void mc_sample_renormalize4(float *probs, size_t n);

#endif
