/*
 * The sampler's linear passes (sample-stages.h). In JavaScript each cost a few tenths of a millisecond
 * on MiniCPM's 122,753 logits — per token, per stream — mostly in per-entry closures and bounds
 * checks; here they run at memory speed. Every loop is a transcription of its TypeScript twin: the
 * same comparisons in the same order (so a heap ends in the same layout), the same double arithmetic,
 * so results are bit for bit those of the twin.
 */
#include "sample-stages.h"

#include <math.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/*
 * Where x[i, n) first holds an entry not below `floor` (n when none): four at a time on SSE2. The
 * passes below skip an entry only when it is below their current floor, so jumping over whole runs
 * of such entries visits exactly the entries the twin's loop acts on, in the same order.
 */
static inline size_t next_not_below(const float *x, size_t i, size_t n, float floor) {
#if defined(__SSE2__)
  const __m128 f = _mm_set1_ps(floor);
  for (; i + 8 <= n; i += 8) {
    /* cmpnlt: not (x < floor), true for NaN too, which the scalar tests then see */
    const int m = _mm_movemask_ps(_mm_cmpnlt_ps(_mm_loadu_ps(x + i), f)) |
                  _mm_movemask_ps(_mm_cmpnlt_ps(_mm_loadu_ps(x + i + 4), f)) << 4;
    if (m) return i + (size_t)__builtin_ctz((unsigned)m);
  }
#endif
  for (; i < n; i++)
    if (!(x[i] < floor)) return i;
  return n;
}

void mc_sample_scale(float *l, size_t n, double inv) {
  for (size_t i = 0; i < n; i++) l[i] = (float)((double)l[i] * inv);
}

/* Heap slot a ranks after slot b: lower logit, or equal logit and higher id. */
#define WORSE(la, ia, lb, ib) ((la) < (lb) || ((la) == (lb) && (ia) > (ib)))

static void sift_down(int32_t *hi, float *hl, size_t k, size_t i) {
  for (;;) {
    const size_t c1 = 2 * i + 1;
    if (c1 >= k) return;
    const size_t c2 = c1 + 1;
    const size_t c = c2 < k && WORSE(hl[c2], hi[c2], hl[c1], hi[c1]) ? c2 : c1;
    if (!WORSE(hl[c], hi[c], hl[i], hi[i])) return;
    const int32_t ti = hi[i];
    const float tl = hl[i];
    hi[i] = hi[c];
    hl[i] = hl[c];
    hi[c] = ti;
    hl[c] = tl;
    i = c;
  }
}

void mc_sample_heap_topk(int32_t *ids, float *l, size_t n, size_t k, int32_t *h_ids, float *h_l) {
  for (size_t i = 0; i < k; i++) {
    h_ids[i] = ids[i];
    h_l[i] = l[i];
  }
  for (size_t i = k >> 1; i-- > 0;) sift_down(h_ids, h_l, k, i);
  for (size_t i = k; (i = next_not_below(l, i, n, h_l[0])) < n; i++) {
    const float v = l[i];
    if (v < h_l[0] || (v == h_l[0] && ids[i] > h_ids[0])) continue;
    h_ids[0] = ids[i];
    h_l[0] = v;
    sift_down(h_ids, h_l, k, 0);
  }
  for (size_t i = 0; i < k; i++) {
    ids[i] = h_ids[i];
    l[i] = h_l[i];
  }
}

/* The heap of positions (bestPositions' twin): slot values index ids/l. */
static void sift_pos(int32_t *h, const int32_t *ids, const float *l, size_t k, size_t i) {
  for (;;) {
    const size_t c1 = 2 * i + 1;
    if (c1 >= k) return;
    const int32_t a = h[c1 + 1 < k ? c1 + 1 : c1], b = h[c1];
    const size_t c = c1 + 1 < k && WORSE(l[a], ids[a], l[b], ids[b]) ? c1 + 1 : c1;
    const int32_t hc = h[c], hi = h[i];
    if (!WORSE(l[hc], ids[hc], l[hi], ids[hi])) return;
    h[i] = hc;
    h[c] = hi;
    i = c;
  }
}

void mc_sample_best_positions(const int32_t *ids, const float *l, size_t n, size_t k, int32_t *out) {
  if (k > n) k = n;
  if (k == 0) return;
  for (size_t i = 0; i < k; i++) out[i] = (int32_t)i;
  for (size_t i = k >> 1; i-- > 0;) sift_pos(out, ids, l, k, i);
  float floor = l[out[0]];
  for (size_t i = k; (i = next_not_below(l, i, n, floor)) < n; i++) {
    const int32_t r = out[0];
    if (l[i] < floor || !WORSE(l[r], ids[r], l[i], ids[(int32_t)i])) continue;
    out[0] = (int32_t)i;
    sift_pos(out, ids, l, k, 0);
    floor = l[out[0]];
  }
  /* best first; the order is total (ids are distinct), so any correct sort gives the twin's result */
  for (size_t i = 1; i < k; i++) {
    const int32_t x = out[i];
    size_t j = i;
    while (j > 0 && WORSE(l[out[j - 1]], ids[out[j - 1]], l[x], ids[x])) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = x;
  }
}

size_t mc_sample_keep_at_least(int32_t *ids, float *l, float *probs, size_t n, double floor, int renorm) {
  size_t w = 0;
  /* a float no greater than the double floor: entries below it are below the floor too */
  float f = (float)floor;
  if ((double)f > floor) f = nextafterf(f, -INFINITY);
  for (size_t i = 0; (i = next_not_below(l, i, n, f)) < n; i++) {
    if (!((double)l[i] >= floor)) continue; /* the floor is a double in the twin too */
    ids[w] = ids[i];
    l[w] = l[i];
    probs[w] = probs[i];
    w++;
  }
  if (renorm) {
    double s = 0;
    for (size_t i = 0; i < w; i++) s += probs[i];
    for (size_t i = 0; i < w; i++) probs[i] = (float)((double)probs[i] / s);
  }
  return w;
}

int32_t mc_sample_draw(const int32_t *ids, const float *probs, size_t n, double u) {
  double acc = 0;
  for (size_t i = 0; i < n; i++) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[n - 1];
}

void mc_sample_renormalize4(float *probs, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += probs[i];
    s1 += probs[i + 1];
    s2 += probs[i + 2];
    s3 += probs[i + 3];
  }
  for (; i < n; i++) s0 += probs[i];
  const double inv = 1 / (s0 + s1 + (s2 + s3));
  for (size_t j = 0; j < n; j++) probs[j] = (float)((double)probs[j] * inv);
}
