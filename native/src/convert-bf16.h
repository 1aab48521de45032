/*
 * f32 ⇄ bf16 over contiguous runs (convert-bf16.c), the same bits as the TypeScript twins in
 * src/backends/cpu/bf16-convert.ts: round to nearest even; a NaN keeps its sign and high payload
 * bits and is made quiet.
 */
#ifndef MC_CONVERT_BF16_H
#define MC_CONVERT_BF16_H

#include <stdint.h>

void mc_f32_to_bf16_run(const float *x, uint16_t *y, long n);
void mc_bf16_to_f32_run(const uint16_t *x, float *y, long n);

#endif
