/*
 * f32 → bf16 runs split over the thread pool (prefill-convert.c): a prefill appends 2 × T × Hkv × D
 * values per layer to a bf16 KV cache (2 × 1.2 M at T = 512 on the 2B shape), which one thread
 * converts at about the speed of one core's memory stream. Each task converts a contiguous range with
 * mc_f32_to_bf16_run (convert-bf16.c), so the bits are that loop's; runs below ~64 K values stay on the
 * calling thread.
 */
#ifndef MC_PREFILL_CONVERT_H
#define MC_PREFILL_CONVERT_H

#include <stdint.h>

void mc_f32_to_bf16_par(const float *x, uint16_t *y, long n);

#endif
