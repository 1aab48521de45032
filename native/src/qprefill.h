/*
 * Quantized prefill GEMM (M > MC_QROWS token rows): the path mc_qmatmul hands its prefill calls to
 * where the CPU has one (qprefill.c drives; qprefill-avx512vnni.c computes on AVX-512 VNNI, every width,
 * qprefill-avx2.c on AVX2, W4 and W2, with half-tile panels of its own described there). The panels
 * below are AVX-512 VNNI's.
 *
 * Each task unpacks a panel of weight tiles once into a cache-resident scratch made for vpdpbusd, then
 * runs every token row over it in register blocks of QP_R tiles x QP_T tokens. Per (tile, block) the
 * panel holds 512 code bytes (k-step s of 4 columns at bytes 64·s + 4·r + i, as the W8 layout already is),
 * 16 int32 accumulator seeds and 16 f32 scales (QP_CHUNK bytes). Activations are uint8 q + 128 against
 * signed codes, both widths:
 *   W4 and W2: codes c − z (|c − z| <= 16), seed −128·Σ_k (c − z), so the block sum
 *       Σ (q + 128)(c − z) − 128·Σ (c − z) = Σ q·(c − z) needs no per-token correction (QP_SEED); W2
 *       codes are read through the W4 layout they unpack to (qmatmul.h);
 *   W8: codes c − 128 (always int8). Where every zero of the panel is 128 (our W8, GGUF Q8_0) the seed is
 *       −128·Σ (c − 128) as for W4 (QP_SEED); otherwise (QP_ZPOINT) the seed word packs int16s
 *       [128 − z | −Σ (c − 128)] and one vpdpwssd against the token's [Σq | 128] starts the sum at
 *       (128 − z)·Σq − 128·Σ (c − 128), which with Σ (q + 128)(c − 128) makes Σ q·(c − z).
 * The integer block sums are exact and each is finished as the scalar tile kernel does,
 * acc = fma(float(isum), scale·d, acc) in block order, so results are bit-identical to mc_qtile_*_scalar.
 */
#ifndef MC_QPREFILL_H
#define MC_QPREFILL_H

#include <stddef.h>
#include <stdint.h>

#define QP_CHUNK 640 /* panel bytes per (tile, block): 512 codes, 64 seeds, 64 scales */
#define QP_SEED 0   /* panel seeds are the accumulator start */
#define QP_ZPOINT 1 /* panel seeds are zero-point words for one vpdpwssd (W8 zeros other than 128) */
#ifndef QP_R
#define QP_R 2 /* tiles per register block */
#endif
#ifndef QP_T
#define QP_T 6 /* token rows per register block (4..8) */
#endif

/* As mc_qmatmul (qmatmul.h) for M > MC_QROWS. Returns 1 when it ran (or recorded an allocation
 * failure), 0 when this CPU or ISA selection has no kernel for it (W8 on AVX2 included), or for fewer
 * token rows than that ISA's panels repay (qprefill.c): the caller's tile path runs then. */
int mc_qprefill(int M, int K, int bits, const float *x, long ldx, const int32_t *perm, int count,
                const uint8_t *const *codes, const uint16_t *const *scales, const uint8_t *const *zeros,
                const int *n, float *y, long ldy);

/* Benchmark hook: nonzero sends prefill back to the tile kernels (the path this one replaced). */
extern int mc_qprefill_off;

#if defined(__x86_64__) || defined(_M_X64)
/* Each ISA's three steps, which qprefill.c drives: quantize (token rows into the operand form), unpack
 * (a panel of tiles into QP_CHUNK bytes per tile and block; returns the panel's form), run (token rows
 * over a panel). */
/* mc_qquantize's codes, scales and sums, bit for bit, in the kernel's operand form: xa = q + 128 as
 * uint8, xd the block scales, xn (W8 only) the zero-point words [Σq | 128 << 16] of the blocks. */
void mc_qprefill_quantize_avx512vnni(int bits, int M, int K, const float *x, long ldx, const int32_t *perm,
                                     uint8_t *xa, float *xd, int32_t *xn);

/* Unpacks `tiles` consecutive tiles (all `blocks` blocks each, tile-major) into panel (QP_CHUNK bytes
 * per tile and block). codes/scales/zeros point at the first tile's block 0. Returns the panel's form
 * (QP_SEED or QP_ZPOINT), which mc_qprefill_run_avx512vnni takes. */
int mc_qprefill_unpack_avx512vnni(int bits, int tiles, int blocks, const uint8_t *codes,
                                  const uint16_t *scales, const uint8_t *zeros, uint8_t *panel);

/* y[i·ldy + 16·t + r] = token row i · panel row (t, r) for i < M, t < tiles, r < 16 (r < last_rows in
 * the panel's last tile). Token row i: activations xa + i·K (uint8 q + 128), block scales xd + i·B,
 * zero-point words xn + i·B (read in the QP_ZPOINT form only). */
void mc_qprefill_run_avx512vnni(int form, int tiles, int last_rows, int blocks, const uint8_t *panel, int M,
                                const uint8_t *xa, const float *xd, const int32_t *xn, float *y, long ldy);

/* The AVX2 steps (qprefill-avx2.c), W4 and W2 only: the same operands without zero-point words (xn is
 * not written), a panel per half-tile of 8 rows in the same QP_CHUNK bytes, always the QP_SEED form. */
void mc_qprefill_quantize_avx2(int bits, int M, int K, const float *x, long ldx, const int32_t *perm, uint8_t *xa,
                               float *xd, int32_t *xn);
int mc_qprefill_unpack_avx2(int bits, int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, uint8_t *panel);
void mc_qprefill_run_avx2(int form, int tiles, int last_rows, int blocks, const uint8_t *panel, int M,
                          const uint8_t *xa, const float *xd, const int32_t *xn, float *y, long ldy);
#endif

#endif
