/*
 * Repacking stored quantized matrices into the W2/W4/W8 tile layout of the int8 kernels (qmatmul.h; layout
 * documented in src/quant/qweight.ts). TypeScript twin: src/quant/qweight-repack.ts (the reference, and
 * the path when the addon is absent). Callers (addon-qrepack.c) check every window beforehand.
 */
#ifndef MC_QREPACK_H
#define MC_QREPACK_H
#include <stdint.h>

/*
 * AutoGPTQ codes: qweight is [K·bits/32, out] int32 words, word (rho, o) holding columns rho·per + i
 * (per = 32/bits) in its bits·i .. bits·i + bits − 1. Column c of row o goes to byte
 * (o/16)·rowStride + (o%16)·4 + colByte[c] of `codes`, shifted left by colShift[c] (0 or 4); `codes`
 * must be zero on entry (codes are OR-ed in).
 */
void mc_qrepack_gptq_codes(const int32_t *qweight, long out, long K, int bits, const int32_t *colByte,
                           const uint8_t *colShift, long rowStride, uint8_t *codes);

/*
 * AutoGPTQ scales and zeros, per (tile, block, row): scale = scales[g·out + o], zero = the bits-wide field
 * o % per of qzeros[g·(out/per) + o/per] plus zeroOffset, g = blockGroup[b]. Returns −1, or g·out + o of
 * the first zero above zmax (nothing is guaranteed written then).
 */
long mc_qrepack_gptq_params(const uint16_t *scales, const int32_t *qzeros, const int32_t *blockGroup,
                            long out, long blocks, int bits, int zeroOffset, int zmax, uint16_t *wscales,
                            uint8_t *wzeros);

/* GGUF Q4_0 rows (18 bytes per 32 values) → W4 (code q, zero 8); out rows of `blocks` blocks. */
void mc_qrepack_q4_0(const uint8_t *data, long out, long blocks, uint8_t *codes, uint16_t *scales,
                     uint8_t *zeros);

/* GGUF Q8_0 rows (34 bytes per 32 values) → W8 (code q + 128, zero 128). */
void mc_qrepack_q8_0(const uint8_t *data, long out, long blocks, uint8_t *codes, uint16_t *scales,
                     uint8_t *zeros);

#endif
