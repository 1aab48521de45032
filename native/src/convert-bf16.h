/*
 * f32 ⇄ bf16: one value (inline, also used by the bf16 GEMM's packing) and contiguous runs
 * (convert-bf16.c), the same bits as the TypeScript twins in
 * src/backends/cpu/bf16-convert.ts: round to nearest even; a NaN keeps its sign and high payload
 * bits and is made quiet.
 */
#ifndef MC_CONVERT_BF16_H
#define MC_CONVERT_BF16_H

#include <stdint.h>
#include <string.h>

/* One f32 as bf16 bits: round to nearest even, a NaN made quiet; branch-free, so loops vectorize. */
static inline uint16_t mc_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet = (u >> 16) | 0x40u;
  return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

void mc_f32_to_bf16_run(const float *x, uint16_t *y, long n);
void mc_bf16_to_f32_run(const uint16_t *x, float *y, long n);

#endif
