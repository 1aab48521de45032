/*
 * WASM SIMD128 tile kernels of the quantized matmul (native/src/qmatmul.h): W4 and W8 codes × int8
 * activations. A code vector holds 4 bytes (4 consecutive k) of 4 output rows, so the activation side
 * is the same 4 bytes splatted: widened to i16, i32x4.dot_i16x8_s sums pairs, and a final pairwise add
 * gives one i32 per row. All integer work is exact.
 *
 * The block terms are accumulated as acc + (scale·d)·isum with the product rounded before the add (no
 * FMA in standard SIMD128): the arithmetic of the TypeScript twin (kernels-ref-quant.ts), bit for bit.
 * The portable qtile_scalar of qmatmul.c fuses that multiply-add, so the two agree to f32 rounding.
 *
 * For m <= 4 token rows the codes of a block are unpacked once and used for every row.
 *
 * Relaxed SIMD (an experiment, not shipped: `node scripts/build-wasm.mjs --relaxed`, measured by `npm run
 * bench -- web-qmatmul`): i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies signed bytes by 7-bit ones and
 * adds each group of 4 into an i32 lane in one instruction. The activations are the signed side, the codes
 * the 7-bit side: W4 codes are 0..15, W8 codes are split into their low 7 bits and their top bit. Every
 * operand is in range, so the result is defined and exact (the same floats as the standard path). In
 * Chromium 150 on this x86 machine it lost where it matters: W4 decode (one token row) 0.75-0.78x of the
 * standard path in every run, W8 0.2-0.6x everywhere; only W4 prefill came out ahead (1.06-1.95x, noisy),
 * and a clang 16 build of the standard path alone showed a like prefill gain, so that part is the compiler.
 */
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#include "../src/qmatmul.h"

/* 4 fp16 bits (zero-extended to u32 lanes) -> f32, exact for every input: the exponent and mantissa
 * shifted into f32 position read as 2^-112 times the value (subnormal halves become subnormal floats),
 * so one multiply by 2^112 is exact; infinities and NaNs get the all-ones exponent back. */
static inline v128_t half4_to_f32(v128_t h) {
  const v128_t mag = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13);
  v128_t f = wasm_f32x4_mul(mag, wasm_f32x4_splat(0x1p112f));
  const v128_t special = wasm_i32x4_eq(wasm_v128_and(h, wasm_i32x4_splat(0x7c00)), wasm_i32x4_splat(0x7c00));
  f = wasm_v128_bitselect(wasm_v128_or(mag, wasm_i32x4_splat(0x7f800000)), f, special);
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
}

/* Blocks' scales (16 halves) and zeros (16 bytes) of one row group j as f32 / i32 lanes. */
static inline void group_params(const uint16_t *sc, const uint8_t *z, int j, v128_t *scale, v128_t *zero) {
  *scale = half4_to_f32(wasm_u32x4_load16x4(sc + 4 * j));
  int32_t zz;
  memcpy(&zz, z + 4 * j, 4);
  *zero = wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_i32x4_splat(zz)));
}

/* Adds row group j's block term for token row i: acc += (scale·d)·(dot − zero·Σq), products rounded. */
static inline v128_t block_term(v128_t acc, v128_t dot, v128_t scale, v128_t zero, float d, int32_t sum) {
  const v128_t isum = wasm_i32x4_sub(dot, wasm_i32x4_mul(zero, wasm_i32x4_splat(sum)));
  const v128_t sd = wasm_f32x4_mul(scale, wasm_f32x4_splat(d));
  return wasm_f32x4_add(acc, wasm_f32x4_mul(sd, wasm_f32x4_convert_i32x4(isum)));
}

#ifdef __wasm_relaxed_simd__
/* 4 bytes at p splatted, as signed bytes. */
static inline v128_t x4_i8(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return wasm_i32x4_splat(v);
}
/* c + Σ over each group of 4 bytes of a·b, b in 0..127. */
static inline v128_t rdot(v128_t a, v128_t b, v128_t c) {
  return (v128_t)__builtin_wasm_relaxed_dot_i8x16_i7x16_add_s_i32x4((__i8x16)a, (__i8x16)b, (__i32x4)c);
}

void mc_qtile_w4_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < MC_QROWS; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  const v128_t z = wasm_i32x4_splat(0);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 256;
    v128_t xlo[MC_QROWS][4], xhi[MC_QROWS][4];
    for (int i = 0; i < m; i++)
      for (int s = 0; s < 4; s++) {
        const int8_t *x = xq + i * ldq + b * MC_QBLOCK;
        xlo[i][s] = x4_i8(x + 4 * s);
        xhi[i][s] = x4_i8(x + 16 + 4 * s);
      }
    for (int j = 0; j < 4; j++) {
      v128_t dot[MC_QROWS];
      for (int i = 0; i < m; i++) dot[i] = wasm_i32x4_splat(0);
      for (int s = 0; s < 4; s++) {
        const v128_t v = wasm_v128_load(c + s * 64 + j * 16);
        const v128_t lo = wasm_v128_and(v, wasm_i8x16_splat(15)), hi = wasm_u8x16_shr(v, 4);
        /* independent dot products, added after (chaining them through the accumulator was no faster) */
        for (int i = 0; i < m; i++)
          dot[i] = wasm_i32x4_add(dot[i], wasm_i32x4_add(rdot(xlo[i][s], lo, z), rdot(xhi[i][s], hi, z)));
      }
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++)
        acc[i][j] = block_term(acc[i][j], dot[i], scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}

void mc_qtile_w8_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < MC_QROWS; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  const v128_t z = wasm_i32x4_splat(0);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 512;
    v128_t x[MC_QROWS][8];
    for (int i = 0; i < m; i++)
      for (int s = 0; s < 8; s++) x[i][s] = x4_i8(xq + i * ldq + b * MC_QBLOCK + 4 * s);
    for (int j = 0; j < 4; j++) {
      v128_t lo7[MC_QROWS], top[MC_QROWS];
      for (int i = 0; i < m; i++) lo7[i] = top[i] = wasm_i32x4_splat(0);
      for (int s = 0; s < 8; s++) {
        const v128_t v = wasm_v128_load(c + s * 64 + j * 16);
        const v128_t lo = wasm_v128_and(v, wasm_i8x16_splat(127)), hi = wasm_u8x16_shr(v, 7);
        for (int i = 0; i < m; i++) {
          lo7[i] = wasm_i32x4_add(lo7[i], rdot(x[i][s], lo, z));
          top[i] = wasm_i32x4_add(top[i], rdot(x[i][s], hi, z));
        }
      }
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++) {
        const v128_t dot = wasm_i32x4_add(lo7[i], wasm_i32x4_shl(top[i], 7));
        acc[i][j] = block_term(acc[i][j], dot, scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
      }
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}
#else
/* 4 bytes at p splatted and widened: [x0 x1 x2 x3 x0 x1 x2 x3] as i16. */
static inline v128_t x4_i16(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return wasm_i16x8_extend_low_i8x16(wasm_i32x4_splat(v));
}

/* Lanes [r0a r0b r1a r1b] and [r2a r2b r3a r3b] -> [r0 r1 r2 r3]. */
static inline v128_t pair_sum(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
}

void mc_qtile_w4_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < MC_QROWS; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 256;
    /* activations: k = 4s..4s+3 pair with low nibbles, k = 16+4s.. with high ones */
    v128_t xlo[MC_QROWS][4], xhi[MC_QROWS][4];
    for (int i = 0; i < m; i++)
      for (int s = 0; s < 4; s++) {
        const int8_t *x = xq + i * ldq + b * MC_QBLOCK;
        xlo[i][s] = x4_i16(x + 4 * s);
        xhi[i][s] = x4_i16(x + 16 + 4 * s);
      }
    for (int j = 0; j < 4; j++) {
      v128_t lo0[4], lo1[4], hi0[4], hi1[4];
      for (int s = 0; s < 4; s++) {
        const v128_t v = wasm_v128_load(c + s * 64 + j * 16);
        const v128_t lo = wasm_v128_and(v, wasm_i8x16_splat(15)), hi = wasm_u8x16_shr(v, 4);
        lo0[s] = wasm_u16x8_extend_low_u8x16(lo);
        lo1[s] = wasm_u16x8_extend_high_u8x16(lo);
        hi0[s] = wasm_u16x8_extend_low_u8x16(hi);
        hi1[s] = wasm_u16x8_extend_high_u8x16(hi);
      }
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++) {
        v128_t a0 = wasm_i32x4_splat(0), a1 = a0;
        for (int s = 0; s < 4; s++) {
          a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(lo0[s], xlo[i][s]));
          a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(lo1[s], xlo[i][s]));
          a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(hi0[s], xhi[i][s]));
          a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(hi1[s], xhi[i][s]));
        }
        acc[i][j] = block_term(acc[i][j], pair_sum(a0, a1), scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
      }
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}

void mc_qtile_w8_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < MC_QROWS; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 512;
    v128_t x[MC_QROWS][8];
    for (int i = 0; i < m; i++)
      for (int s = 0; s < 8; s++) x[i][s] = x4_i16(xq + i * ldq + b * MC_QBLOCK + 4 * s);
    for (int j = 0; j < 4; j++) {
      v128_t c0[8], c1[8];
      for (int s = 0; s < 8; s++) {
        const v128_t v = wasm_v128_load(c + s * 64 + j * 16);
        c0[s] = wasm_u16x8_extend_low_u8x16(v);
        c1[s] = wasm_u16x8_extend_high_u8x16(v);
      }
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++) {
        v128_t a0 = wasm_i32x4_splat(0), a1 = a0;
        for (int s = 0; s < 8; s++) {
          a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(c0[s], x[i][s]));
          a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(c1[s], x[i][s]));
        }
        acc[i][j] = block_term(acc[i][j], pair_sum(a0, a1), scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
      }
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}
#endif
