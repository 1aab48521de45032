/*
 * Portable packing into register-tile panels, included by each ISA file (so the compiler can
 * vectorize it with that file's flags). A panel of width R holds R consecutive rows (for A) or
 * columns (for B) of the operand, k-major: panel[p*R + r]. Indices past the edge are zero, so
 * micro-kernels always run full tiles and only mask their stores.
 *
 * The operand is addressed as X[r*si + p*sp]: for A, si/sp are its row/column strides; for B the
 * roles swap (its columns are the panel index).
 */
#ifndef MC_PACK_GENERIC_H
#define MC_PACK_GENERIC_H

#include <string.h>

#include "internal.h"

static inline void pack_panels_f32(const float *X, long si, long sp, int n, int k, int R, float *dst) {
  for (int r0 = 0; r0 < n; r0 += R, dst += (size_t)k * R) {
    const int rv = MC_MIN(R, n - r0);
    const float *x = X + (long)r0 * si;
    if (si == 1) {  /* panel index contiguous: copy rows of R */
      for (int p = 0; p < k; p++) {
        const float *s = x + (long)p * sp;
        float *d = dst + (size_t)p * R;
        for (int r = 0; r < rv; r++) d[r] = s[r];
        for (int r = rv; r < R; r++) d[r] = 0.0f;
      }
    } else {  /* k contiguous: read each row along k, write strided */
      for (int r = 0; r < rv; r++) {
        const float *s = x + (long)r * si;
        for (int p = 0; p < k; p++) dst[(size_t)p * R + r] = s[(long)p * sp];
      }
      for (int r = rv; r < R; r++)
        for (int p = 0; p < k; p++) dst[(size_t)p * R + r] = 0.0f;
    }
  }
}

/* The same from bf16 bits, widening to f32 (exact). */
static inline void pack_panels_bf16_f32(const uint16_t *X, long si, long sp, int n, int k, int R,
                                        float *dst) {
  for (int r0 = 0; r0 < n; r0 += R, dst += (size_t)k * R) {
    const int rv = MC_MIN(R, n - r0);
    const uint16_t *x = X + (long)r0 * si;
    for (int r = 0; r < rv; r++) {
      const uint16_t *s = x + (long)r * si;
      for (int p = 0; p < k; p++) dst[(size_t)p * R + r] = mc_bf16_to_f32(s[(long)p * sp]);
    }
    for (int r = rv; r < R; r++)
      for (int p = 0; p < k; p++) dst[(size_t)p * R + r] = 0.0f;
  }
}

#endif
