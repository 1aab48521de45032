/*
 * The linear passes of the top-p (nucleus) sampler stage on a flat row (src/engine/sampler-stages.ts,
 * nucleusByBuckets, is the twin and defines every step): a histogram of (max − logit) weighted by the
 * probabilities finds the bucket the cut falls in; entries of better buckets are compacted in place (in
 * place order) and the cut bucket's entries are copied out for the caller to sort. The arithmetic is the
 * twin's — doubles for the bucket index and the masses, summed in index order — so the split is
 * bitwise the same; only the speed differs (JavaScript ran these passes ~4x slower at 122,753 entries).
 * Only entries that can reach the cut are visited (see mc_nucleus_split_at), which on MiniCPM's rows is
 * a small fraction of the vocabulary.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nucleus.h"

#define BUCKETS 1024
#define MAX_PER_UNIT 16.0
/* The visiting threshold's estimate: a quarter-logit histogram of every STRIDE-th entry. */
#define SCAN_BINS 256
#define STRIDE 8

/*
 * The least finite logit (m when none is lower) and the largest probability, in one pass; order does
 * not matter to either, so SSE2 takes four at a time.
 */
static void range_scan(int n, float m, const float *logits, const float *probs, float *lo_out, float *pmax_out) {
  int i = 0;
  float lo = m, pmax = 0;
#if defined(__SSE2__)
  const __m128 ninf = _mm_set1_ps(-INFINITY), pinf = _mm_set1_ps(INFINITY);
  __m128 lv = _mm_set1_ps(m), pv = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) {
    const __m128 x = _mm_loadu_ps(logits + i);
    const __m128 finite = _mm_cmpgt_ps(x, ninf); /* false for -inf and NaN, which the minimum skips */
    lv = _mm_min_ps(lv, _mm_or_ps(_mm_and_ps(finite, x), _mm_andnot_ps(finite, pinf)));
    pv = _mm_max_ps(_mm_loadu_ps(probs + i), pv);
  }
  float a[4], b[4];
  _mm_storeu_ps(a, lv);
  _mm_storeu_ps(b, pv);
  for (int j = 0; j < 4; j++) {
    lo = a[j] < lo ? a[j] : lo;
    pmax = b[j] > pmax ? b[j] : pmax;
  }
#endif
  for (; i < n; i++) {
    const float l = logits[i];
    if (l < lo && l > -INFINITY) lo = l;
    if (probs[i] > pmax) pmax = probs[i];
  }
  *lo_out = lo;
  *pmax_out = pmax;
}

/*
 * Calls BODY(i) for each i in [0, n) with logits[i] not below t (NaN included), in index order: eight
 * entries tested at once, then their hits taken from the mask (one branch per block, not per entry).
 */
#if defined(__SSE2__)
#define FOR_VISITED(x, n, t, BODY)                                                            \
  do {                                                                                       \
    int i_ = 0;                                                                              \
    if ((t) > -INFINITY) {                                                                   \
      const __m128 f_ = _mm_set1_ps(t);                                                      \
      for (; i_ + 8 <= (n); i_ += 8) {                                                       \
        unsigned k_ = (unsigned)(_mm_movemask_ps(_mm_cmpnlt_ps(_mm_loadu_ps((x) + i_), f_)) | \
                                 _mm_movemask_ps(_mm_cmpnlt_ps(_mm_loadu_ps((x) + i_ + 4), f_)) << 4); \
        while (k_) {                                                                         \
          const int i = i_ + __builtin_ctz(k_);                                              \
          k_ &= k_ - 1;                                                                      \
          BODY;                                                                              \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
    for (int i = i_; i < (n); i++)                                                           \
      if (!((x)[i] < (t))) BODY;                                                             \
  } while (0)
#else
#define FOR_VISITED(x, n, t, BODY)        \
  do {                                    \
    for (int i = 0; i < (n); i++)         \
      if (!((x)[i] < (t))) BODY;          \
  } while (0)
#endif

static inline int bucket_of(float m, float l, double per_unit) {
  const double d = ((double)m - (double)l) * per_unit; /* NaN and +inf go to the last bucket */
  return d < BUCKETS - 1 ? (int)d : BUCKETS - 1;
}

int mc_nucleus_split_at(int n, float m, double p, int32_t *ids, float *logits, float *probs, uint16_t *bucket,
                        int32_t *cut_ids, float *cut_logits, float *cut_probs, int *n_cut, double *before_out,
                        double guess) {
  float lo, pmax;
  range_scan(n, m, logits, probs, &lo, &pmax);
  const double per_unit = m > lo ? (MAX_PER_UNIT > (BUCKETS - 1) / ((double)m - (double)lo)
                                        ? MAX_PER_UNIT
                                        : (BUCKETS - 1) / ((double)m - (double)lo))
                                 : MAX_PER_UNIT;
  /*
   * Only buckets up to the cut matter, and they hold the best entries: every entry below a logit t has
   * probability at most pmax·e^(t−m), so below t = m + ln((1 − p) / (2·n·pmax)) lies at most half of
   * the 1 − p the nucleus leaves out. The passes visit entries not below t only. Bucket numbers fall as
   * logits rise (a monotone formula), so every bucket before t's (`complete`) is summed whole and in
   * index order, exactly as a full pass would; a cut found there is the full pass's cut. Otherwise
   * (rounding, or t's bucket holding the cut) the passes run again over everything.
   */
  float t = -INFINITY;
  if (guess == guess) t = guess < (double)m ? (float)guess : m; /* tests: any threshold gives the same split */
  else if (pmax > 0 && p < 1) {
    const double g = (double)m + log((1 - p) * 0.5 / ((double)n * (double)pmax));
    if (g < (double)m) t = nextafterf((float)g, -INFINITY);
    /* tighter, from every STRIDE-th entry: the mass above (m − j/4) logits, scaled up; on flat rows
     * (the usual ones here: peaked ones reach p within their best 64) it is spread over thousands
     * of entries, so the estimate is close. A margin of half the excluded mass; a wrong
     * guess only costs the rerun. */
    float est[SCAN_BINS];
    memset(est, 0, sizeof est);
    double sampled = 0;
    for (int i = 0; i < n; i += STRIDE) {
      const float d = (m - logits[i]) * 4.0f;
      if (d >= 0 && d < SCAN_BINS) est[(int)d] += probs[i];
      sampled += probs[i] == probs[i] ? probs[i] : 0;
    }
    /* as a share of the sampled mass (the sample may miss the few heaviest entries) */
    const double want = (p + (1 - p) * 0.5) * sampled;
    double acc = 0;
    for (int j = 0; j < SCAN_BINS; j++)
      if ((acc += est[j]) >= want) {
        const float tj = m - (float)(j + 1) * 0.25f;
        if (tj > t) t = tj;
        break;
      }
  }
  for (;;) {
    const int complete = t == -INFINITY ? BUCKETS : bucket_of(m, t, per_unit);
    double mass[BUCKETS];
    memset(mass, 0, sizeof mass);
    FOR_VISITED(logits, n, t, {
      const int b = bucket_of(m, logits[i], per_unit);
      bucket[i] = (uint16_t)b;
      mass[b] += (double)probs[i];
    });
    int cut = BUCKETS - 1, found = 0;
    double before = 0, acc = 0;
    for (int b = 0; b < BUCKETS; b++) {
      if (acc + mass[b] >= p) {
        cut = b;
        before = acc;
        found = 1;
        break;
      }
      acc += mass[b];
    }
    if (complete < BUCKETS && !(found && cut < complete)) {
      t = -INFINITY;
      continue;
    }
    int w = 0, nm = 0;
    /* w <= i always, and later hits lie past i, so in-place writes never clobber an unread entry */
    FOR_VISITED(logits, n, t, {
      const int b = bucket[i];
      if (b < cut) {
        ids[w] = ids[i];
        logits[w] = logits[i];
        probs[w] = probs[i];
        w++;
      } else if (b == cut) {
        cut_ids[nm] = ids[i];
        cut_logits[nm] = logits[i];
        cut_probs[nm] = probs[i];
        nm++;
      }
    });
    *n_cut = nm;
    *before_out = before;
    return w;
  }
}

int mc_nucleus_split(int n, float m, double p, int32_t *ids, float *logits, float *probs, uint16_t *bucket,
                     int32_t *cut_ids, float *cut_logits, float *cut_probs, int *n_cut, double *before_out) {
  return mc_nucleus_split_at(n, m, p, ids, logits, probs, bucket, cut_ids, cut_logits, cut_probs, n_cut, before_out,
                             NAN);
}
