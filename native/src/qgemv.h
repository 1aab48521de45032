/*
 * Decode GEMV of the quantized matmul (qmatmul.h, layout in src/quant/qweight.ts): one token row
 * (already quantized: xq [K], block scales xd and code sums xs [K/32]) against `tiles` consecutive tiles
 * of one weight, written to y[16·t + r] for the first `rows` rows (a weight's last tile may be partial).
 * codes/scales/zeros start at the first tile's block 0. Same arithmetic as the tile kernels, bit for bit.
 * The _sym entry points are for symmetric weights (every zero 2^(bits−1)) and do not read `zeros`.
 */
#ifndef MC_QGEMV_H
#define MC_QGEMV_H

#include <stdint.h>

typedef void (*mc_qgemv_fn)(int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, const int8_t *xq, const float *xd, const int32_t *xs,
                            float *y, int rows);

#if defined(__x86_64__) || defined(_M_X64)
void mc_qgemv_w2_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                            const float *, const int32_t *, float *, int);
void mc_qgemv_w4_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                            const float *, const int32_t *, float *, int);
void mc_qgemv_w8_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                            const float *, const int32_t *, float *, int);
void mc_qgemv_w2_sym_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                                const float *, const int32_t *, float *, int);
void mc_qgemv_w4_sym_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                                const float *, const int32_t *, float *, int);
void mc_qgemv_w8_sym_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                                const float *, const int32_t *, float *, int);
/* AVX2 (qgemv-avx2.c): W4 and W8; W2 runs through the tile kernels there */
void mc_qgemv_w4_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, const float *,
                      const int32_t *, float *, int);
void mc_qgemv_w8_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, const float *,
                      const int32_t *, float *, int);
void mc_qgemv_w4_sym_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                          const float *, const int32_t *, float *, int);
void mc_qgemv_w8_sym_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                          const float *, const int32_t *, float *, int);
#endif

#endif
