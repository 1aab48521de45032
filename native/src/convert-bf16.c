/*
 * f32 ⇄ bf16 runs (contract in convert-bf16.h). Appending a 512-token prefill's keys and values to a
 * bf16 KV cache converts 2 × 1.2 M floats per layer; the TypeScript loop took ~2.5 ns an element on
 * the main thread, these branch-free loops vectorize (baseline SSE2 here) to a fraction of that.
 * Portable C, no ISA-specific file needed.
 */
#include <string.h>

#include "convert-bf16.h"

void mc_f32_to_bf16_run(const float *x, uint16_t *y, long n) {
  for (long i = 0; i < n; i++) y[i] = mc_f32_to_bf16(x[i]);
}

void mc_bf16_to_f32_run(const uint16_t *x, float *y, long n) {
  for (long i = 0; i < n; i++) {
    const uint32_t u = (uint32_t)x[i] << 16;
    memcpy(y + i, &u, 4);
  }
}
