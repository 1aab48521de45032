/*
 * Start-up of the wasm32 build (cpu.c's role): the kernel table, thread count and aligned memory.
 * SIMD128 is part of the module (an engine without it rejects the whole module), so the table is
 * chosen at build time; the portable table stays selectable for tests and benchmarks.
 */
#include <stdlib.h>

#include "../src/internal.h"
#include "wasm-internal.h"

extern const mc_gemm_impl mc_sgemm_simd128, mc_bf16_simd128;
void mc_gemv_t_simd128(int, int, float, const float *, long, const float *, float, float *);
void mc_gemv_bf16_simd128(int, int, float, const uint16_t *, long, const float *, float, float *);
void mc_skinny_simd128(int, int, int, float, const float *, long, const void *, long, float, float *, long);
void mc_skinny_bf16_simd128(int, int, int, float, const float *, long, const void *, long, float, float *, long);

mc_kernels_t mc_k;

static const mc_kernels_t simd_table = {
    MC_ISA_SIMD128, &mc_sgemm_simd128, &mc_bf16_simd128, mc_gemv_t_simd128, mc_gemv_n_scalar,
    mc_gemv_bf16_simd128, mc_skinny_simd128, mc_skinny_bf16_simd128,
};

static const mc_kernels_t scalar_table = {
    MC_ISA_SCALAR, &mc_sgemm_scalar, &mc_bf16_scalar, mc_gemv_t_scalar, mc_gemv_n_scalar, mc_gemv_bf16_scalar,
    NULL, NULL,
};

static int ready;

/* The JS side calls this on the main instance before any worker starts, so no race. */
void mc_init(void) {
  if (ready) return;
  mc_k = simd_table;
  ready = 1;
}

int mc_set_isa(mc_isa isa) {
  mc_init();
  if (isa == MC_ISA_SIMD128) mc_k = simd_table;
  else if (isa == MC_ISA_SCALAR) mc_k = scalar_table;
  else return 0;
  return 1;
}

mc_features_t mc_features(void) {
  mc_init();
  mc_features_t f = {mc_k.isa, 0, 0};
  return f;
}

/* The ISA as a plain int for the JS side (mc_features returns a struct). */
int mc_wasm_isa(void) { return (int)mc_features().isa; }

void mc_set_threads(int n) {
  mc_init();
  mc_pool_resize(n);
}

int mc_get_threads(void) {
  mc_init();
  return mc_pool_threads();
}

void *mc_alloc(size_t bytes) { return mc_wasm_zalloc(bytes); }
void mc_advise_huge(void *p, size_t bytes) {
  (void)p;
  (void)bytes;
}
void mc_free(void *p, size_t bytes) {
  (void)bytes;
  free(p);
}
