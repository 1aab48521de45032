/*
 * Quantized matmul driver (qmatmul.h): activation quantization, ISA dispatch of the tile kernels, and
 * the split of output tiles over the persistent pool. Also the scalar tile kernels, the portable
 * definition every SIMD kernel is tested against (through the TypeScript twin).
 *
 * Work split: decode (M <= 4) streams the weights once, in contiguous runs of tiles claimed in order by
 * whichever thread is free (decode_run): one long run per thread over 3/4 of the tiles, then the last
 * quarter by guided self-scheduling (a quarter of what is left per run at 2 threads, down to about
 * QSPLIT_MIN_BYTES). One run per thread left the caller waiting whenever the other thread started late
 * — a pool worker woken from sleep (tens of µs in a VM, where a 2304 x 2304 W4 GEMV takes ~100 µs) or
 * descheduled on a busy machine. Runs cost a restart each: uniform 256 KiB runs streamed ~15% slower
 * per CPU-second than one run per thread, guided runs from the first tile ~7% at that 3.2 MB GEMV,
 * this split ~2% (2 threads, loaded machine, medians of 7). A single row (M = 1) runs through the decode GEMV (qgemv.h)
 * where the CPU has one, which writes y directly. Prefill takes tasks of QGROUP tiles (~64 KiB of W4
 * codes at K = 2304, resident in L2) and runs every group of 4 token rows over them, so the weights come from
 * memory once per group of tiles and the unpacked nibbles of a block serve 4 tokens (a W2 task unpacks its
 * tiles to W4 once, for all its token rows). On AVX-512 VNNI prefill goes to qprefill.c instead from 32
 * token rows (each panel unpacked once for all token rows, no per-token zero-point work; 1.1-1.5x this
 * path, 1.6-1.8x the bf16 GEMM for W4, one thread, loaded machine), and on AVX2 W4 and W2 from 8; fewer
 * rows stay here, where this path is the faster one (qprefill.c, qprefill_isa.min_rows).
 *
 * Prefill alternative not taken: dequantizing cache-sized weight panels into the bf16 GEMM costs that GEMM
 * plus the dequantization, and the GEMM alone was slower than this kernel (M 256, K 2304, N 5760, 2 threads,
 * interleaved best of 6 on a shared, heavily loaded machine: W4 63 GFLOP/s, W8 68, bf16 GEMM 51).
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "qmatmul.h"
#include "qgemv.h"
#ifdef MC_X86
#include "qprefill.h"
#endif

#define QGROUP 4
/* decode runs: no shorter than this many weight bytes (but a weight under 4x this per thread is one
 * run per thread, or a single run below 64 KiB) */
#define QSPLIT_MIN_BYTES (256 << 10)

/* IEEE half bits -> f32, exact (subnormals, infinities and NaN included). */
static inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 1023;
  union { uint32_t u; float f; } v;
  if (exp == 31) v.u = sign | 0x7f800000u | (man << 13);
  else if (exp != 0) v.u = sign | ((exp + 112) << 23) | (man << 13);
  else {
    v.f = (float)man * (1.0f / 16777216.0f); /* man · 2^-24, exact */
    v.u |= sign;
  }
  return v.f;
}

/* roundf(x) (half away from zero) for |x| <= 127, inline and branch-free: the libm calls of roundf and
 * fmaxf were a tenth of a W4 prefill's CPU, and branches on random signs ran 2x slower than those calls
 * (this version 1.7x faster than them; M 512, K 5760, one thread). Truncation and the fraction
 * x - trunc(x) are exact at this size. */
static inline int round_away(float x) {
  const int r = (int)x;
  const float f = x - (float)r;
  return r + (f >= 0.5f) - (f <= -0.5f);
}

#ifdef MC_X86 /* bit-identical, in qquantize-avx512.c */
void mc_qquantize_avx512(int M, int K, const float *x, long ldx, const int32_t *perm, int8_t *xq, float *xd,
                         int32_t *xs);
#endif

void mc_qquantize(int M, int K, const float *x, long ldx, const int32_t *perm, int8_t *xq, float *xd,
                  int32_t *xs) {
#ifdef MC_X86
  if (mc_features().isa == MC_ISA_AVX512) {
    mc_qquantize_avx512(M, K, x, ldx, perm, xq, xd, xs);
    return;
  }
#endif
  const int B = K / MC_QBLOCK;
  for (int m = 0; m < M; m++) {
    const float *row = x + (long)m * ldx;
    for (int b = 0; b < B; b++) {
      float v[MC_QBLOCK], amax = 0.0f;
      for (int i = 0; i < MC_QBLOCK; i++) {
        const int j = b * MC_QBLOCK + i;
        v[i] = row[perm ? perm[j] : j];
        const float a = fabsf(v[i]);
        amax = amax < a ? a : amax; /* fmaxf's result (a NaN is skipped), as one maxss */
      }
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      int32_t sum = 0;
      int8_t *q = xq + (long)m * K + (long)b * MC_QBLOCK;
      for (int i = 0; i < MC_QBLOCK; i++) {
        float t = v[i] * id;
        /* clamping first rounds to the same code as clamping the rounded value (minss/maxss) */
        t = t < 127.0f ? t : 127.0f;
        t = t > -127.0f ? t : -127.0f;
        const int r = round_away(t);
        q[i] = (int8_t)r;
        sum += r;
      }
      xd[(long)m * B + b] = d;
      xs[(long)m * B + b] = sum;
    }
  }
}

void mc_qunpack_w2(int blocks, const uint8_t *w2, uint8_t *w4) {
  for (int b = 0; b < blocks; b++, w2 += 128, w4 += 256)
    for (int j = 0; j < 128; j++) {
      w4[j] = w2[j] & 0x33;
      w4[128 + j] = (w2[j] >> 2) & 0x33;
    }
}

/* The scalar tile kernel for W4 (bits 4) and W8 (bits 8); W2 runs through W4's (run_tile). */
static void qtile_scalar(int bits, int blocks, int m, const uint8_t *codes, const uint16_t *scales,
                         const uint8_t *zeros, const int8_t *xq, long ldq, const float *xd, const int32_t *xs,
                         long ldb, float *out) {
  const int BB = bits == 8 ? 512 : 256;
  for (int i = 0; i < m; i++) {
    for (int r = 0; r < MC_QTILE; r++) {
      float acc = 0.0f;
      for (int b = 0; b < blocks; b++) {
        const uint8_t *c = codes + (size_t)b * BB + r * 4;
        const int8_t *x = xq + i * ldq + b * MC_QBLOCK;
        int32_t dot = 0;
        for (int kk = 0; kk < MC_QBLOCK; kk++) {
          int code;
          if (bits == 8) code = c[(kk >> 2) * 64 + (kk & 3)];
          else {
            const int k = kk & 15;
            const uint8_t byte = c[(k >> 2) * 64 + (k & 3)];
            code = kk >= 16 ? byte >> 4 : byte & 15;
          }
          dot += code * x[kk];
        }
        const int p = b * MC_QTILE + r;
        const int32_t isum = dot - (int32_t)zeros[p] * xs[i * ldb + b];
        acc = fmaf((float)isum, f16_to_f32(scales[p]) * xd[i * ldb + b], acc);
      }
      out[i * MC_QTILE + r] = acc;
    }
  }
}

void mc_qtile_w4_scalar(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                        const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  qtile_scalar(4, blocks, m, codes, scales, zeros, xq, ldq, xd, xs, ldb, out);
}

void mc_qtile_w8_scalar(int blocks, int m, const uint8_t *codes, const uint16_t *scales, const uint8_t *zeros,
                        const int8_t *xq, long ldq, const float *xd, const int32_t *xs, long ldb, float *out) {
  qtile_scalar(8, blocks, m, codes, scales, zeros, xq, ldq, xd, xs, ldb, out);
}

/* The one-row decode GEMV (qgemv.h) where this CPU has one, else NULL (the tile kernels serve M = 1: W2 on
 * AVX2, the scalar and wasm builds); sym: the entry point for symmetric weights, which does not read their
 * zeros. */
static mc_qgemv_fn pick_gemv(int bits, int sym) {
#ifdef MC_X86
  /* [sym][bits >> 2]: W2, W4, W8 */
  static const mc_qgemv_fn vnni[2][3] = {
      {mc_qgemv_w2_avx512vnni, mc_qgemv_w4_avx512vnni, mc_qgemv_w8_avx512vnni},
      {mc_qgemv_w2_sym_avx512vnni, mc_qgemv_w4_sym_avx512vnni, mc_qgemv_w8_sym_avx512vnni}};
  static const mc_qgemv_fn avx2[2][3] = {{NULL, mc_qgemv_w4_avx2, mc_qgemv_w8_avx2},
                                         {NULL, mc_qgemv_w4_sym_avx2, mc_qgemv_w8_sym_avx2}};
  const mc_features_t f = mc_features();
  if (f.isa == MC_ISA_AVX512 && f.vnni) return vnni[!!sym][bits >> 2];
  if (f.isa >= MC_ISA_AVX2) return avx2[!!sym][bits >> 2];
#endif
  (void)bits, (void)sym;
  return NULL;
}

/* W2 takes the W4 tile kernel on codes qtask unpacks to W4, QGROUP tiles at a time, once for all the
 * task's token rows; the one-row GEMV and the prefill panels read W2 directly. */
static mc_qtile_fn pick_kernel(int bits) {
  const mc_features_t f = mc_features();
  if (bits == 2) bits = 4;
#ifdef MC_X86
  if (f.isa == MC_ISA_AVX512 && f.vnni) return bits == 8 ? mc_qtile_w8_avx512vnni : mc_qtile_w4_avx512vnni;
  if (f.isa >= MC_ISA_AVX2) return bits == 8 ? mc_qtile_w8_avx2 : mc_qtile_w4_avx2;
#endif
#ifdef __wasm_simd128__ /* the wasm build's SIMD128 tiles (native/wasm/qmatmul-simd128.c) */
  if (f.isa != MC_ISA_SCALAR) return bits == 8 ? mc_qtile_w8_simd128 : mc_qtile_w4_simd128;
#endif
  (void)f;
  return bits == 8 ? mc_qtile_w8_scalar : mc_qtile_w4_scalar;
}

typedef struct {
  mc_qtile_fn kernel;
  mc_qgemv_fn gemv, gemv_sym; /* M = 1 only; gemv_sym for the weights whose bit is set in sym */
  unsigned sym;
  int M, K, B, bits, count, tiles, parts;
  int first_tile[MC_QMAX_WEIGHTS + 1]; /* global index of each weight's tile 0 */
  int col[MC_QMAX_WEIGHTS];            /* output column of each weight's row 0 */
  const uint8_t *const *codes;
  const uint16_t *const *scales;
  const uint8_t *const *zeros;
  const int *n;
  const int8_t *xq;
  const float *xd;
  const int32_t *xs;
  float *y;
  long ldy;
  int least, spread; /* decode split (decode_run): shortest run in tiles, 0 for an even split; 2·threads */
} qjob_t;

/* Tile g's codes: their place in the weight, or for W2 their W4 form, unpacked into w4 (B·256 bytes). */
static const uint8_t *tile_codes(const qjob_t *J, int g, uint8_t *w4) {
  int w = 0;
  while (g >= J->first_tile[w + 1]) w++;
  const uint8_t *codes = J->codes[w] + (size_t)(g - J->first_tile[w]) * J->B * MC_QBLOCK_BYTES(J->bits);
  if (J->bits != 2) return codes;
  mc_qunpack_w2(J->B, codes, w4);
  return w4;
}

/* Tile g (global) on token rows [i0, i0 + m), written to y; codes are tile_codes' (W2 as W4). */
static void run_tile(const qjob_t *J, int g, int i0, int m, const uint8_t *codes) {
  int w = 0;
  while (g >= J->first_tile[w + 1]) w++;
  const int t = g - J->first_tile[w];
  const size_t tb = (size_t)t * J->B;
  float out[MC_QROWS * MC_QTILE];
  J->kernel(J->B, m, codes, J->scales[w] + tb * MC_QTILE,
            J->zeros[w] + tb * MC_QTILE, J->xq + (long)i0 * J->K, J->K, J->xd + (long)i0 * J->B,
            J->xs + (long)i0 * J->B, J->B, out);
  const int rows = MC_MIN(MC_QTILE, J->n[w] - t * MC_QTILE);
  for (int i = 0; i < m; i++)
    memcpy(J->y + (long)(i0 + i) * J->ldy + J->col[w] + t * MC_QTILE, out + i * MC_QTILE,
           sizeof(float) * (size_t)rows);
}

/* Global tiles [g0, g1) of one token row through the GEMV, weight by weight, straight into y. */
static void run_gemv(const qjob_t *J, int g0, int g1) {
  const size_t BB = MC_QBLOCK_BYTES(J->bits);
  for (int w = 0; w < J->count && g0 < g1; w++) {
    const int t0 = g0 - J->first_tile[w], t1 = MC_MIN(g1, J->first_tile[w + 1]) - J->first_tile[w];
    if (t0 >= t1) continue;
    const size_t tb = (size_t)t0 * J->B;
    const mc_qgemv_fn gemv = J->sym >> w & 1 ? J->gemv_sym : J->gemv;
    gemv(t1 - t0, J->B, J->codes[w] + tb * BB, J->scales[w] + tb * MC_QTILE, J->zeros[w] + tb * MC_QTILE,
            J->xq, J->xd, J->xs, J->y + J->col[w] + t0 * MC_QTILE, J->n[w] - t0 * MC_QTILE);
    g0 = J->first_tile[w] + t1;
  }
}

/* Decode task `task`'s run of global tiles [*g0, *g1). Even split: parts equal runs. Otherwise the
 * first `threads` runs split 3/4 of the tiles evenly, one long stream per thread, and the last quarter
 * goes by guided self-scheduling: each run takes 1/spread (spread = 2·threads) of the tiles left, at
 * least `least`, to whichever thread is free, so a thread that starts late is covered by the other's
 * taking more of the tail. Recomputed from the start by every task (a few dozen runs: a head of 7,673 W8
 * tiles at 2 threads is 21), so the split needs no table. */
static void decode_run(const qjob_t *J, int task, int *g0, int *g1) {
  const int threads = J->spread / 2, head = J->tiles - J->tiles / 4;
  if (!J->least || task < threads) {
    const int n = J->least ? threads : J->parts, span = J->least ? head : J->tiles;
    *g0 = (int)((long)span * task / n);
    *g1 = (int)((long)span * (task + 1) / n);
    return;
  }
  int g = head, take = 0;
  for (int i = threads; i <= task; i++) {
    g += take;
    const int left = J->tiles - g;
    take = MC_MIN(left, MC_MAX(J->least, left / J->spread));
    if (left - take < J->least) take = left; /* no run shorter than `least` at the end */
  }
  *g0 = g;
  *g1 = g + take;
}

/* Sets the decode split of J (its tiles, threads and bytes per tile) and returns the number of runs. */
static int decode_split(qjob_t *J, size_t tile_bytes, int threads) {
  const double bytes = (double)J->tiles * (double)tile_bytes;
  J->least = 0;
  if (threads <= 1 || bytes < (1 << 16)) return 1;
  if (bytes < 4.0 * QSPLIT_MIN_BYTES * threads) return MC_MIN(threads, J->tiles);
  J->least = (int)MC_MAX(1, QSPLIT_MIN_BYTES / tile_bytes);
  J->spread = 2 * threads;
  int n = threads, g0, g1 = J->tiles - J->tiles / 4; /* the long runs end there; then the tail's */
  for (; g1 < J->tiles; n++) decode_run(J, n, &g0, &g1);
  return n;
}

static void qtask(void *arg, int task, int tid) {
  (void)tid;
  const qjob_t *J = arg;
  int g0, g1;
  if (J->M <= MC_QROWS) { /* decode: one contiguous run of tiles per task */
    decode_run(J, task, &g0, &g1);
    if (J->gemv) {
      run_gemv(J, g0, g1);
      return;
    }
  } else { /* prefill: QGROUP tiles per task */
    g0 = task * QGROUP;
    g1 = MC_MIN(J->tiles, g0 + QGROUP);
  }
  uint8_t *w4 = J->bits == 2 ? mc_scratch(MC_SCRATCH_A, (size_t)QGROUP * J->B * 256) : NULL;
  if (J->bits == 2 && !w4) return; /* recorded for the binding */
  /* QGROUP tiles at a time, their codes (W2 unpacked once) serving every group of token rows */
  for (int c0 = g0; c0 < g1; c0 += QGROUP) {
    const int c1 = MC_MIN(g1, c0 + QGROUP);
    const uint8_t *codes[QGROUP];
    for (int g = c0; g < c1; g++) codes[g - c0] = tile_codes(J, g, w4 ? w4 + (size_t)(g - c0) * J->B * 256 : NULL);
    for (int i0 = 0; i0 < J->M; i0 += MC_QROWS)
      for (int g = c0; g < c1; g++) run_tile(J, g, i0, MC_MIN(MC_QROWS, J->M - i0), codes[g - c0]);
  }
}

typedef struct {
  int M, K;
  const float *x;
  long ldx;
  const int32_t *perm;
  int8_t *xq;
  float *xd;
  int32_t *xs;
  int parts;
} qquant_t;

static void qquant_task(void *arg, int task, int tid) {
  (void)tid;
  const qquant_t *q = arg;
  const int m0 = (int)((long)q->M * task / q->parts), m1 = (int)((long)q->M * (task + 1) / q->parts);
  const long B = q->K / MC_QBLOCK;
  mc_qquantize(m1 - m0, q->K, q->x + (long)m0 * q->ldx, q->ldx, q->perm, q->xq + (long)m0 * q->K, q->xd + m0 * B,
               q->xs + m0 * B);
}

void mc_qmatmul(int M, int K, int bits, const float *x, long ldx, const int32_t *perm, int count,
                const uint8_t *const *codes, const uint16_t *const *scales, const uint8_t *const *zeros,
                unsigned sym, const int *n, float *y, long ldy) {
  mc_init();
  if (M <= 0 || count <= 0) return;
#ifdef MC_X86 /* prefill on AVX-512 VNNI, W4/W2 on AVX2: panel-unpacked register-blocked kernels (qprefill*.c) */
  if (M > MC_QROWS && mc_qprefill(M, K, bits, x, ldx, perm, count, codes, scales, zeros, n, y, ldy)) return;
#endif
  qjob_t J = {.kernel = pick_kernel(bits), .gemv = M == 1 ? pick_gemv(bits, 0) : NULL,
              .gemv_sym = M == 1 ? pick_gemv(bits, 1) : NULL, .sym = sym, .M = M, .K = K, .B = K / MC_QBLOCK,
              .bits = bits, .count = count, .codes = codes, .scales = scales, .zeros = zeros, .n = n, .y = y,
              .ldy = ldy};
  int col = 0;
  J.first_tile[0] = 0;
  for (int w = 0; w < count; w++) {
    J.col[w] = col;
    col += n[w];
    J.first_tile[w + 1] = J.first_tile[w] + MC_CEIL(n[w], MC_QTILE);
  }
  J.tiles = J.first_tile[count];
  if (J.tiles == 0) return;
  /* int8 codes, then 64-byte aligned block scales and sums */
  const size_t qbytes = MC_CEIL((size_t)M * K, 64) * 64, bbytes = MC_CEIL((size_t)M * J.B * 4, 64) * 64;
  char *s = mc_scratch(MC_SCRATCH_X, qbytes + 2 * bbytes);
  if (!s) return; /* out of memory: recorded for the binding (internal.h) */
  J.xq = (const int8_t *)s;
  J.xd = (const float *)(s + qbytes);
  J.xs = (const int32_t *)(s + qbytes + bbytes);
  const int threads = mc_pool_threads();
  if (M > MC_QROWS && threads > 1) { /* prefill: rows quantized on every thread, not the caller's alone */
    qquant_t Q = {M, K, x, ldx, perm, (int8_t *)J.xq, (float *)J.xd, (int32_t *)J.xs, MC_MIN(threads, M)};
    mc_parallel(Q.parts, qquant_task, &Q);
  } else
    mc_qquantize(M, K, x, ldx, perm, (int8_t *)J.xq, (float *)J.xd, (int32_t *)J.xs);

  if (M <= MC_QROWS) J.parts = decode_split(&J, (size_t)J.B * (MC_QBLOCK_BYTES(bits) + 48), threads);
  else J.parts = MC_CEIL(J.tiles, QGROUP);
  if (J.parts <= 1 && M <= MC_QROWS) qtask(&J, 0, 0);
  else mc_parallel(J.parts, qtask, &J);
}
