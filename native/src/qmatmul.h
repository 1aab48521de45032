/*
 * Quantized matmul (W2/W4/W8 weights × int8-quantized activations): the C side of
 * src/backends/kernels-quant.ts. The weight layout is documented in src/quant/qweight.ts: tiles of 16
 * output rows, blocks of 32 input columns; per (tile, block) 64·bits code bytes (W8: byte s·64 + r·4 + i
 * holds k = 4s+i; W4: its low nibble k = 4s+i and its high one k = 16+4s+i; W2: its bit pairs from the
 * lowest k = 4s+i, 8+4s+i, 16+4s+i, 24+4s+i), 16 fp16 scales and 16 uint8 zeros. A W2 byte masked with
 * 0x33 is the W4 byte of the same s, and shifted right by 2 and masked, the W4 byte of s + 2.
 */
#ifndef MC_QMATMUL_H
#define MC_QMATMUL_H

#include <stdint.h>

#define MC_QBLOCK 32
#define MC_QTILE 16
#define MC_QMAX_WEIGHTS 8
/* token rows a tile kernel handles at once (weights unpacked once, used for all of them) */
#define MC_QROWS 4
/* code bytes per (tile, block) */
#define MC_QBLOCK_BYTES(bits) ((size_t)64 * (size_t)(bits))

/* Quantizes M rows of K activations (row i at x + i·ldx, gathered by perm when not NULL) to int8 per
 * 32: xq [M·K], block scales xd and code sums xs [M·K/32]. */
void mc_qquantize(int M, int K, const float *x, long ldx, const int32_t *perm, int8_t *xq, float *xd,
                  int32_t *xs);

/* y[i·ldy + o_w + j] = x row i · weight w row j (see kernels-quant.ts). bits 2, 4 or 8, count <= 8. Bit w
 * of `sym` says every zero of weight w is 2^(bits−1): the one-row GEMV then leaves its zeros unread. */
void mc_qmatmul(int M, int K, int bits, const float *x, long ldx, const int32_t *perm, int count,
                const uint8_t *const *codes, const uint16_t *const *scales, const uint8_t *const *zeros,
                unsigned sym, const int *n, float *y, long ldy);

/* One call's weights (what mc_qmatmul takes besides the activations and the output): K inputs, count
 * weights of n[i] rows each, total = Σ n[i] outputs. A decode layer's plan keeps one per projection group. */
typedef struct {
  int bits, K, count, total;
  const int32_t *perm;
  const uint8_t *codes[MC_QMAX_WEIGHTS];
  const uint16_t *scales[MC_QMAX_WEIGHTS];
  const uint8_t *zeros[MC_QMAX_WEIGHTS];
  unsigned sym; /* bit i: weight i is symmetric (mc_qmatmul) */
  int n[MC_QMAX_WEIGHTS];
} mc_qrun;

static inline void mc_qmatmul_run(int M, const float *x, long ldx, const mc_qrun *r, float *y, long ldy) {
  mc_qmatmul(M, r->K, r->bits, x, ldx, r->perm, r->count, r->codes, r->scales, r->zeros, r->sym, r->n, y, ldy);
}

/* One tile (16 rows) over all `blocks` for m <= MC_QROWS token rows: out[i·16 + r]. Token row i's codes
 * are xq + i·ldq, its block scales and sums xd/xs + i·ldb. Code pointers start at the tile's block 0. */
typedef void (*mc_qtile_fn)(int blocks, int m, const uint8_t *codes, const uint16_t *scales,
                            const uint8_t *zeros, const int8_t *xq, long ldq, const float *xd,
                            const int32_t *xs, long ldb, float *out);

void mc_qtile_w4_scalar(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                        const float *, const int32_t *, long, float *);
void mc_qtile_w8_scalar(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                        const float *, const int32_t *, long, float *);
#if defined(__x86_64__) || defined(_M_X64)
void mc_qtile_w4_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                      const float *, const int32_t *, long, float *);
void mc_qtile_w8_avx2(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                      const float *, const int32_t *, long, float *);
void mc_qtile_w4_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                            long, const float *, const int32_t *, long, float *);
void mc_qtile_w8_avx512vnni(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *,
                            long, const float *, const int32_t *, long, float *);
#endif
/* W2 codes of `blocks` blocks (128 bytes each) as the W4 layout (256 bytes each), for the W4 kernels. */
void mc_qunpack_w2(int blocks, const uint8_t *w2, uint8_t *w4);

#ifdef __wasm_simd128__
void mc_qtile_w4_simd128(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                         const float *, const int32_t *, long, float *);
void mc_qtile_w8_simd128(int, int, const uint8_t *, const uint16_t *, const uint8_t *, const int8_t *, long,
                         const float *, const int32_t *, long, float *);
#endif

#endif
