/*
 * Greedy decoding's pick (decode-argmax.h). The JavaScript loop it replaces cost a few hundred
 * microseconds per row of MiniCPM's 122,753 logits, paid again for every stream of a batched decode.
 * Two passes: the maximum (NaN skipped), then the first index equal to it. The row (~0.5 MB) is still
 * in L2 for the second pass, which stops at the first hit. x86-64's baseline SSE2 is enough: the row is
 * read at cache speed, so wider vectors would not pay for a run-time dispatch.
 */
#include "decode-argmax.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The largest non-NaN value of x[0, n), or -inf when there is none. */
static float max_skipping_nan(const float *x, size_t n) {
  size_t i = 0;
  float m = -INFINITY;
#if defined(__SSE2__)
  /* maxps returns its second operand when either is NaN: max(x, acc) keeps acc past a NaN */
  __m128 a0 = _mm_set1_ps(-INFINITY), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm_max_ps(_mm_loadu_ps(x + i), a0);
    a1 = _mm_max_ps(_mm_loadu_ps(x + i + 4), a1);
    a2 = _mm_max_ps(_mm_loadu_ps(x + i + 8), a2);
    a3 = _mm_max_ps(_mm_loadu_ps(x + i + 12), a3);
  }
  for (; i + 4 <= n; i += 4) a0 = _mm_max_ps(_mm_loadu_ps(x + i), a0);
  float lanes[4];
  _mm_storeu_ps(lanes, _mm_max_ps(_mm_max_ps(a0, a1), _mm_max_ps(a2, a3)));
  for (int j = 0; j < 4; j++) m = lanes[j] > m ? lanes[j] : m; /* lanes hold no NaN */
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

long mc_argmax_f32(const float *x, size_t n) {
  if (n == 0) return -1;
  const float m = max_skipping_nan(x, n);
  size_t i = 0;
#if defined(__SSE2__)
  const __m128 mv = _mm_set1_ps(m);
  for (; i + 4 <= n; i += 4) {
    const int hits = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), mv));
    if (hits) return (long)(i + (size_t)__builtin_ctz((unsigned)hits));
  }
#endif
  for (; i < n; i++)
    if (x[i] == m) return (long)i;
  return 0; /* every entry NaN: m stayed -inf and matched none */
}
