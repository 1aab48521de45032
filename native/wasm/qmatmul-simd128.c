/*
 * WASM SIMD128 tile kernels of the quantized matmul (native/src/qmatmul.h): W4 and W8 codes × int8
 * activations. A code vector holds 4 bytes (4 consecutive k) of 4 output rows; the standard path pulls
 * its bytes or nibbles out as i16 lanes in place and i32x4.dot_i16x8_s lands each row's products in that
 * row's i32 lane (details below). All integer work is exact.
 *
 * The block terms are accumulated as acc + (scale·d)·isum with the product rounded before the add (no
 * FMA in standard SIMD128): the arithmetic of the TypeScript twin (kernels-ref-quant.ts), bit for bit.
 * The portable qtile_scalar of qmatmul.c fuses that multiply-add, so the two agree to f32 rounding.
 *
 * For m <= 4 token rows the codes of a block are unpacked once and used for every row. The standard path
 * measured 1.6-1.8x the earlier one (u8→u16 widening, pairwise fix-up) at decode (W4, m = 1, 2304 →
 * 5760, one thread, Node's V8 on a shared x86 machine), 1.1-1.4x at prefill; W8 1.1-1.3x.
 *
 * Relaxed SIMD (an experiment, not shipped: `node scripts/build-wasm.mjs --relaxed`, measured by `npm run
 * bench -- web-qmatmul`): i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies signed bytes by 7-bit ones and
 * adds each group of 4 into an i32 lane in one instruction. The activations are the signed side, the codes
 * the 7-bit side: W4 codes are 0..15, W8 codes are split into their low 7 bits and their top bit. Every
 * operand is in range, so the result is defined and exact (the same floats as the standard path). In
 * Chromium 150 on this x86 machine it lost to the earlier standard path where it matters: W4 decode (one token row) 0.75-0.78x of the
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
/*
 * Standard SIMD128. A 16-byte code vector (4 rows × 4 consecutive k) is read as 8 i16 lanes, lane q·2+h
 * holding row q's bytes k = 2h (low byte) and 2h + 1 (high byte). Masks and 16-bit shifts pull each byte
 * (W8) or nibble (W4) out as a clean i16 lane in place, no widening: the even bytes pair with activations
 * [x(2h=0) x(2) x0 x2 ...], the odd bytes with [x1 x3 x1 x3 ...], and i32x4.dot_i16x8_s then sums each
 * row's two lanes, so a dot product lands directly in row q's i32 lane (no pairwise fix-up). In V8 on
 * x86 every one of these is a single instruction (psrlw, pand, pmaddwd, paddd); the byte shift and the
 * u8→u16 widening the earlier version used are 2-4 each.
 */

/* A 16-byte run of int8 activations split into its even and odd bytes, sign-extended to i16:
 * ev = [x0 x2 .. x14], od = [x1 x3 .. x15]. */
static inline void xsplit(v128_t a, v128_t *ev, v128_t *od) {
  const v128_t t = wasm_i8x16_shuffle(a, a, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  *ev = wasm_i16x8_extend_low_i8x16(t);
  *od = wasm_i16x8_extend_high_i8x16(t);
}

/* Lanes for the even (or odd) bytes of the code vectors of k = 4s..4s+3: the 32-bit lane s of ev (od),
 * i.e. [x(4s) x(4s+2)] four times. */
#define XPAIR(v, s) wasm_i32x4_shuffle(v, v, s, s, s, s)

/* One W4 code vector's 32 products into d: low nibbles (k = 4s + i) with xl*, high ones (16 + 4s + i)
 * with xh*. Every product is exact in i32. */
static inline v128_t w4_dot(v128_t d, v128_t v, v128_t xle, v128_t xlo, v128_t xhe, v128_t xho) {
  const v128_t m = wasm_i16x8_splat(0x000f);
  d = wasm_i32x4_add(d, wasm_i32x4_dot_i16x8(wasm_v128_and(v, m), xle));
  d = wasm_i32x4_add(d, wasm_i32x4_dot_i16x8(wasm_v128_and(wasm_u16x8_shr(v, 8), m), xlo));
  d = wasm_i32x4_add(d, wasm_i32x4_dot_i16x8(wasm_v128_and(wasm_u16x8_shr(v, 4), m), xhe));
  return wasm_i32x4_add(d, wasm_i32x4_dot_i16x8(wasm_u16x8_shr(v, 12), xho));
}

/* m token rows (a constant after inlining). The activation lanes of a block are built once per (row,
 * s) and each code vector is loaded once for all m rows; with s outside j, one row's four activation
 * vectors and its four row-group sums stay in registers (decode, m = 1). */
static inline __attribute__((always_inline)) void w4(int blocks, const int m, const uint8_t *codes,
                                                     const uint16_t *scales, const uint8_t *zeros,
                                                     const int8_t *xq, long ldq, const float *xd,
                                                     const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 256;
    v128_t ae[MC_QROWS], ao[MC_QROWS], be[MC_QROWS], bo[MC_QROWS], d[MC_QROWS][4];
    for (int i = 0; i < m; i++) {
      xsplit(wasm_v128_load(xq + i * ldq + b * MC_QBLOCK), &ae[i], &ao[i]);
      xsplit(wasm_v128_load(xq + i * ldq + b * MC_QBLOCK + 16), &be[i], &bo[i]);
      for (int j = 0; j < 4; j++) d[i][j] = wasm_i32x4_splat(0);
    }
#define W4_STEP(s)                                                                                  \
  {                                                                                                 \
    v128_t le[MC_QROWS], lo[MC_QROWS], he[MC_QROWS], ho[MC_QROWS];                                  \
    for (int i = 0; i < m; i++) {                                                                   \
      le[i] = XPAIR(ae[i], s);                                                                      \
      lo[i] = XPAIR(ao[i], s);                                                                      \
      he[i] = XPAIR(be[i], s);                                                                      \
      ho[i] = XPAIR(bo[i], s);                                                                      \
    }                                                                                               \
    for (int j = 0; j < 4; j++) {                                                                   \
      const v128_t v = wasm_v128_load(c + (s) * 64 + j * 16);                                       \
      for (int i = 0; i < m; i++) d[i][j] = w4_dot(d[i][j], v, le[i], lo[i], he[i], ho[i]);         \
    }                                                                                               \
  }
    W4_STEP(0) W4_STEP(1) W4_STEP(2) W4_STEP(3)
#undef W4_STEP
    for (int j = 0; j < 4; j++) {
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++)
        acc[i][j] = block_term(acc[i][j], d[i][j], scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}

/* Decode (m = 1), written out with plain variables: clang keeps arrays of the general kernel partly on
 * the linear-memory stack (stores and reloads every block), here everything stays in wasm locals. */
static void w4_m1(int blocks, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros, const int8_t *xq,
                  const float *xd, const int32_t *xs, float *out) {
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 256;
    v128_t ae, ao, be, bo;
    xsplit(wasm_v128_load(xq + b * MC_QBLOCK), &ae, &ao);
    xsplit(wasm_v128_load(xq + b * MC_QBLOCK + 16), &be, &bo);
    v128_t d0 = wasm_i32x4_splat(0), d1 = d0, d2 = d0, d3 = d0;
#define W4_STEP1(s)                                                                      \
  {                                                                                      \
    const v128_t le = XPAIR(ae, s), lo = XPAIR(ao, s), he = XPAIR(be, s), ho = XPAIR(bo, s); \
    d0 = w4_dot(d0, wasm_v128_load(c + (s) * 64), le, lo, he, ho);                       \
    d1 = w4_dot(d1, wasm_v128_load(c + (s) * 64 + 16), le, lo, he, ho);                  \
    d2 = w4_dot(d2, wasm_v128_load(c + (s) * 64 + 32), le, lo, he, ho);                  \
    d3 = w4_dot(d3, wasm_v128_load(c + (s) * 64 + 48), le, lo, he, ho);                  \
  }
    W4_STEP1(0) W4_STEP1(1) W4_STEP1(2) W4_STEP1(3)
#undef W4_STEP1
    const uint16_t *sc = scales + (size_t)b * MC_QTILE;
    const uint8_t *z = zeros + (size_t)b * MC_QTILE;
    const float d = xd[b];
    const int32_t sum = xs[b];
    v128_t scale, zero;
    group_params(sc, z, 0, &scale, &zero);
    acc0 = block_term(acc0, d0, scale, zero, d, sum);
    group_params(sc, z, 1, &scale, &zero);
    acc1 = block_term(acc1, d1, scale, zero, d, sum);
    group_params(sc, z, 2, &scale, &zero);
    acc2 = block_term(acc2, d2, scale, zero, d, sum);
    group_params(sc, z, 3, &scale, &zero);
    acc3 = block_term(acc3, d3, scale, zero, d, sum);
  }
  wasm_v128_store(out, acc0);
  wasm_v128_store(out + 4, acc1);
  wasm_v128_store(out + 8, acc2);
  wasm_v128_store(out + 12, acc3);
}

/* W8: a code vector holds whole bytes, k = 4s + i for s < 8; even bytes masked, odd ones shifted down. */
static inline __attribute__((always_inline)) void w8(int blocks, const int m, const uint8_t *codes,
                                                     const uint16_t *scales, const uint8_t *zeros,
                                                     const int8_t *xq, long ldq, const float *xd,
                                                     const int32_t *xs, long ldb, float *out) {
  v128_t acc[MC_QROWS][4];
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = wasm_f32x4_splat(0.0f);
  const v128_t mask = wasm_i16x8_splat(0x00ff);
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 512;
    v128_t ae[MC_QROWS], ao[MC_QROWS], be[MC_QROWS], bo[MC_QROWS], d[MC_QROWS][4];
    for (int i = 0; i < m; i++) {
      xsplit(wasm_v128_load(xq + i * ldq + b * MC_QBLOCK), &ae[i], &ao[i]);
      xsplit(wasm_v128_load(xq + i * ldq + b * MC_QBLOCK + 16), &be[i], &bo[i]);
      for (int j = 0; j < 4; j++) d[i][j] = wasm_i32x4_splat(0);
    }
#define W8_STEP(xe, xo, s, so)                                                                          \
  {                                                                                                 \
    v128_t e[MC_QROWS], o[MC_QROWS];                                                                \
    for (int i = 0; i < m; i++) {                                                                   \
      e[i] = XPAIR(xe[i], s);                                                                       \
      o[i] = XPAIR(xo[i], s);                                                                       \
    }                                                                                               \
    for (int j = 0; j < 4; j++) {                                                                   \
      const v128_t v = wasm_v128_load(c + (so) * 64 + j * 16);                                      \
      const v128_t ve = wasm_v128_and(v, mask), vo = wasm_u16x8_shr(v, 8);                          \
      for (int i = 0; i < m; i++)                                                                   \
        d[i][j] = wasm_i32x4_add(d[i][j], wasm_i32x4_add(wasm_i32x4_dot_i16x8(ve, e[i]),            \
                                                         wasm_i32x4_dot_i16x8(vo, o[i])));          \
    }                                                                                               \
  }
    W8_STEP(ae, ao, 0, 0) W8_STEP(ae, ao, 1, 1) W8_STEP(ae, ao, 2, 2) W8_STEP(ae, ao, 3, 3)
    W8_STEP(be, bo, 0, 4) W8_STEP(be, bo, 1, 5) W8_STEP(be, bo, 2, 6) W8_STEP(be, bo, 3, 7)
#undef W8_STEP
    for (int j = 0; j < 4; j++) {
      v128_t scale, zero;
      group_params(scales + (size_t)b * MC_QTILE, zeros + (size_t)b * MC_QTILE, j, &scale, &zero);
      for (int i = 0; i < m; i++)
        acc[i][j] = block_term(acc[i][j], d[i][j], scale, zero, xd[i * ldb + b], xs[i * ldb + b]);
    }
  }
  for (int i = 0; i < m; i++)
    for (int j = 0; j < 4; j++) wasm_v128_store(out + i * MC_QTILE + 4 * j, acc[i][j]);
}
/* W8 decode (m = 1) with plain variables, as w4_m1. */
static void w8_m1(int blocks, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros, const int8_t *xq,
                  const float *xd, const int32_t *xs, float *out) {
  const v128_t mask = wasm_i16x8_splat(0x00ff);
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (int b = 0; b < blocks; b++) {
    const uint8_t *c = codes + (size_t)b * 512;
    v128_t ae, ao, be, bo;
    xsplit(wasm_v128_load(xq + b * MC_QBLOCK), &ae, &ao);
    xsplit(wasm_v128_load(xq + b * MC_QBLOCK + 16), &be, &bo);
    v128_t d0 = wasm_i32x4_splat(0), d1 = d0, d2 = d0, d3 = d0;
#define W8_DOT(d, v, e, o)                                                                              \
  d = wasm_i32x4_add(d, wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_and(v, mask), e),               \
                                       wasm_i32x4_dot_i16x8(wasm_u16x8_shr(v, 8), o)))
#define W8_STEP1(xe, xo, s, so)                                                         \
  {                                                                                     \
    const v128_t e = XPAIR(xe, s), o = XPAIR(xo, s);                                    \
    W8_DOT(d0, wasm_v128_load(c + (so) * 64), e, o);                                    \
    W8_DOT(d1, wasm_v128_load(c + (so) * 64 + 16), e, o);                               \
    W8_DOT(d2, wasm_v128_load(c + (so) * 64 + 32), e, o);                               \
    W8_DOT(d3, wasm_v128_load(c + (so) * 64 + 48), e, o);                               \
  }
    W8_STEP1(ae, ao, 0, 0) W8_STEP1(ae, ao, 1, 1) W8_STEP1(ae, ao, 2, 2) W8_STEP1(ae, ao, 3, 3)
    W8_STEP1(be, bo, 0, 4) W8_STEP1(be, bo, 1, 5) W8_STEP1(be, bo, 2, 6) W8_STEP1(be, bo, 3, 7)
#undef W8_STEP1
#undef W8_DOT
    const uint16_t *sc = scales + (size_t)b * MC_QTILE;
    const uint8_t *z = zeros + (size_t)b * MC_QTILE;
    const float d = xd[b];
    const int32_t sum = xs[b];
    v128_t scale, zero;
    group_params(sc, z, 0, &scale, &zero);
    acc0 = block_term(acc0, d0, scale, zero, d, sum);
    group_params(sc, z, 1, &scale, &zero);
    acc1 = block_term(acc1, d1, scale, zero, d, sum);
    group_params(sc, z, 2, &scale, &zero);
    acc2 = block_term(acc2, d2, scale, zero, d, sum);
    group_params(sc, z, 3, &scale, &zero);
    acc3 = block_term(acc3, d3, scale, zero, d, sum);
  }
  wasm_v128_store(out, acc0);
  wasm_v128_store(out + 4, acc1);
  wasm_v128_store(out + 8, acc2);
  wasm_v128_store(out + 12, acc3);
}

#undef XPAIR

/* Specialised on m so the token loops unroll and the sums stay in registers. */
#define DISPATCH(fn)                                                                \
  switch (m) {                                                                      \
    case 1: fn(blocks, 1, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break;  \
    case 2: fn(blocks, 2, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break;  \
    case 3: fn(blocks, 3, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break;  \
    default: fn(blocks, 4, codes, scales, zeros, xq, ldq, xd, xs, ldb, out); break; \
  }

void mc_qtile_w4_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  if (m == 1) {
    w4_m1(blocks, codes, scales, zeros, xq, xd, xs, out);
    return;
  }
  DISPATCH(w4)
}

void mc_qtile_w8_simd128(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                         const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  if (m == 1) {
    w8_m1(blocks, codes, scales, zeros, xq, xd, xs, out);
    return;
  }
  DISPATCH(w8)
}
#undef DISPATCH
#endif
