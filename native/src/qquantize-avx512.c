/*
 * AVX-512 activation quantization for the quantized matmul (mc_qquantize in qmatmul.c, which calls this
 * on AVX-512 CPUs), bit-identical to its scalar loop (the block kernel and why it is exact:
 * qquantize-avx512.h). Why: a decode step quantizes each GEMV's input on the calling thread before the
 * pool starts; the scalar loop took 12.6 µs for K = 5760 (2.2 ns an element), ~5% of that down
 * projection's weight stream at 33 GB/s, with the second thread idle.
 */
#include <immintrin.h>

#include "qmatmul.h"
#include "qquantize-avx512.h"

void mc_qquantize_avx512(int M, int K, const float *x, long ldx, const int32_t *perm, int8_t *xq, float *xd,
                         int32_t *xs) {
  const int B = K / MC_QBLOCK;
  for (int m = 0; m < M; m++) {
    const float *row = x + (long)m * ldx;
    for (int b = 0; b < B; b++) {
      __m512i r[2];
      xd[(long)m * B + b] = mc_qquantize_block_avx512(row, perm, b, r);
      int8_t *q = xq + (long)m * K + (long)b * MC_QBLOCK;
      _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(r[0]));
      _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtepi32_epi8(r[1]));
      xs[(long)m * B + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(r[0], r[1]));
    }
  }
}
