/* The few <stdlib.h> functions the kernels use, for the freestanding wasm32 build (heap-wasm.c). */
#ifndef MC_WASM_STDLIB_H
#define MC_WASM_STDLIB_H
#include <stddef.h>
void *malloc(size_t n);
void *calloc(size_t count, size_t size);
void free(void *p);
_Noreturn void abort(void);
#endif
