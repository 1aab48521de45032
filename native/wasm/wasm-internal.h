/* Pieces shared by the wasm32-only files (native/wasm/): the heap and the worker pool. */
#ifndef MC_WASM_INTERNAL_H
#define MC_WASM_INTERNAL_H
#include <stddef.h>

/* mc_isa value reported for the WASM SIMD128 kernel table (mc.h names only the x86 ones). */
#define MC_ISA_SIMD128 ((mc_isa)3)

void *mc_wasm_zalloc(size_t n);
#endif
