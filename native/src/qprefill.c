/*
 * Quantized prefill driver (qprefill.h): quantizes the activations on every pool thread, then splits the
 * weights' tiles into panels, one task each. A task unpacks its panel once into its thread's scratch and
 * runs all M token rows over it, so every weight byte comes from memory once per call and its nibbles
 * are unpacked once, not once per group of 4 tokens as the tile kernels do (which also correct the zero
 * point and convert the scale per token and block; see qprefill-avx512vnni.c for what this costs instead).
 * The steps are the ISA's (qprefill_isa): AVX-512 VNNI for every width, else AVX2 for W4 and W2.
 *
 * Panel size: as many tiles as keep the panel within PANEL_BYTES (L2-resident while M token rows stream
 * over it), a multiple of the ISA's register block of tiles, and no more than leaves every thread several
 * tasks.
 */
#include <string.h>

#include "internal.h"
#include "qmatmul.h"
#include "qprefill.h"

#ifndef PANEL_BYTES
#define PANEL_BYTES (192 * 1024)
#endif

int mc_qprefill_off = 0;

#ifdef MC_X86
typedef struct {
  /* Fewer token rows take the tile kernels: a panel's unpack, written to scratch and read back, is paid
   * over too few rows there (measured per ISA, below). */
  int min_rows;
  int w8;          /* has W8 panels */
  int tile_block;  /* panels hold a multiple of this many tiles (the kernel's register block) */
  void (*quantize)(int bits, int M, int K, const float *x, long ldx, const int32_t *perm, uint8_t *xa,
                   float *xd, int32_t *xn);
  int (*unpack)(int bits, int tiles, int blocks, const uint8_t *codes, const uint16_t *scales,
                const uint8_t *zeros, uint8_t *panel);
  void (*run)(int form, int tiles, int last_rows, int blocks, const uint8_t *panel, int M, const uint8_t *xa,
              const float *xd, const int32_t *xn, float *y, long ldy);
} qprefill_isa;

/* Tiles/panel CPU time, one thread, M 5..128 over the 2B-wide q/k/v, o and down shapes (loaded machine):
 * W4 1.2-1.4x at M 5-8, 1.1-1.15x at 12-16, 1.03-1.06x at 24; even at 32 (0.96-1.17x); the panel path
 * ahead from 48 (1.0-1.07x) to 128 (1.12-1.14x); W8 alike. */
static const qprefill_isa avx512vnni = {32, 1, QP_R, mc_qprefill_quantize_avx512vnni,
                                        mc_qprefill_unpack_avx512vnni, mc_qprefill_run_avx512vnni};
/* AVX2 against its tile path, 2B-wide shapes, 2 threads: 5 rows 0.88-0.91x, 8 rows 0.97-1.04x, 16 rows
 * 1.18-1.22x, 32 rows 1.31-1.35x. W8 has no AVX2 panel (see qprefill-avx2.c). */
static const qprefill_isa avx2 = {8, 0, 1, mc_qprefill_quantize_avx2, mc_qprefill_unpack_avx2,
                                  mc_qprefill_run_avx2};

typedef struct {
  const qprefill_isa *isa;
  int M, K, B, bits, count, ptiles, tasks;
  int first_task[MC_QMAX_WEIGHTS + 1];
  int col[MC_QMAX_WEIGHTS];
  const uint8_t *const *codes;
  const uint16_t *const *scales;
  const uint8_t *const *zeros;
  const int *n;
  const uint8_t *xa;
  const float *xd;
  const int32_t *xn;
  float *y;
  long ldy;
} qpjob_t;

static void panel_task(void *arg, int task, int tid) {
  (void)tid;
  const qpjob_t *J = arg;
  int w = 0;
  while (task >= J->first_task[w + 1]) w++;
  const int t0 = (task - J->first_task[w]) * J->ptiles;
  const int wtiles = MC_CEIL(J->n[w], MC_QTILE), tiles = MC_MIN(J->ptiles, wtiles - t0);
  const int last_rows = t0 + tiles == wtiles ? J->n[w] - (wtiles - 1) * MC_QTILE : MC_QTILE;
  uint8_t *panel = mc_scratch(MC_SCRATCH_A, (size_t)tiles * J->B * QP_CHUNK);
  if (!panel) return; /* recorded for the binding */
  const size_t tb = (size_t)t0 * J->B;
  const int form = J->isa->unpack(J->bits, tiles, J->B, J->codes[w] + tb * MC_QBLOCK_BYTES(J->bits),
                                  J->scales[w] + tb * MC_QTILE, J->zeros[w] + tb * MC_QTILE, panel);
  J->isa->run(form, tiles, last_rows, J->B, panel, J->M, J->xa, J->xd, J->xn, J->y + J->col[w] + t0 * MC_QTILE,
              J->ldy);
}

typedef struct {
  const qprefill_isa *isa;
  int M, K, bits, parts;
  const float *x;
  long ldx;
  const int32_t *perm;
  uint8_t *xa;
  float *xd;
  int32_t *xn;
} qpquant_t;

/* Rows [m0, m1) quantized into the operand form the kernel wants (qprefill.h). */
static void quant_task(void *arg, int task, int tid) {
  (void)tid;
  const qpquant_t *q = arg;
  const int m0 = (int)((long)q->M * task / q->parts), m1 = (int)((long)q->M * (task + 1) / q->parts);
  const long B = q->K / MC_QBLOCK;
  q->isa->quantize(q->bits, m1 - m0, q->K, q->x + (long)m0 * q->ldx, q->ldx, q->perm, q->xa + (long)m0 * q->K,
                   q->xd + m0 * B, q->xn + m0 * B);
}
#endif

int mc_qprefill(int M, int K, int bits, const float *x, long ldx, const int32_t *perm, int count,
                const uint8_t *const *codes, const uint16_t *const *scales, const uint8_t *const *zeros,
                const int *n, float *y, long ldy) {
#ifdef MC_X86
  const mc_features_t f = mc_features();
  const qprefill_isa *isa = f.isa == MC_ISA_AVX512 && f.vnni ? &avx512vnni : f.isa >= MC_ISA_AVX2 ? &avx2 : NULL;
  if (mc_qprefill_off || !isa || M < isa->min_rows || (bits == 8 && !isa->w8)) return 0;
  if (bits != 8) { /* c − z must fit int8: W4 zeros are 0..16, W2 0..4 (qweight.ts); else the tile path */
    uint8_t zmax = 0;
    for (int w = 0; w < count; w++) {
      const size_t nz = (size_t)MC_CEIL(n[w], MC_QTILE) * (K / MC_QBLOCK) * MC_QTILE;
      for (size_t i = 0; i < nz; i++) zmax = zeros[w][i] > zmax ? zeros[w][i] : zmax;
    }
    if (zmax > 16) return 0;
  }
  qpjob_t J = {.isa = isa, .M = M, .K = K, .B = K / MC_QBLOCK, .bits = bits, .count = count, .codes = codes,
               .scales = scales, .zeros = zeros, .n = n, .y = y, .ldy = ldy};
  const int threads = mc_pool_threads();
  int tiles = 0;
  for (int w = 0; w < count; w++) tiles += MC_CEIL(n[w], MC_QTILE);
  if (tiles == 0) return 1;
  /* panel: within PANEL_BYTES, a multiple of tile_block tiles, and >= 4 tasks per thread where possible */
  int pt = MC_MAX(1, PANEL_BYTES / (J.B * QP_CHUNK));
  pt = MC_MIN(pt, MC_MAX(1, tiles / (4 * threads)));
  pt = MC_MAX(isa->tile_block, pt / isa->tile_block * isa->tile_block);
  J.ptiles = pt;
  J.first_task[0] = 0;
  int col = 0;
  for (int w = 0; w < count; w++) {
    J.col[w] = col;
    col += n[w];
    J.first_task[w + 1] = J.first_task[w] + MC_CEIL(MC_CEIL(n[w], MC_QTILE), pt);
  }
  J.tasks = J.first_task[count];

  /* activation operands, then 64-byte aligned block scales and zero-point words */
  const size_t qbytes = MC_CEIL((size_t)M * K, 64) * 64, bbytes = MC_CEIL((size_t)M * J.B * 4, 64) * 64;
  char *s = mc_scratch(MC_SCRATCH_X, qbytes + 2 * bbytes);
  if (!s) return 1; /* out of memory: recorded for the binding (internal.h) */
  qpquant_t Q = {isa, M, K, bits, MC_MIN(threads, M), x, ldx, perm, (uint8_t *)s, (float *)(s + qbytes),
                 (int32_t *)(s + qbytes + bbytes)};
  if (Q.parts > 1) mc_parallel(Q.parts, quant_task, &Q);
  else quant_task(&Q, 0, 0);
  J.xa = Q.xa;
  J.xd = Q.xd;
  J.xn = bits == 8 ? Q.xn : NULL;
  mc_parallel(J.tasks, panel_task, &J);
  return 1;
#else
  (void)M, (void)K, (void)bits, (void)x, (void)ldx, (void)perm, (void)count, (void)codes, (void)scales;
  (void)zeros, (void)n, (void)y, (void)ldy;
  return 0;
#endif
}
