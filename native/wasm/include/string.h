/* The few <string.h> functions the kernels use, for the freestanding wasm32 build (libc-wasm.c). */
#ifndef MC_WASM_STRING_H
#define MC_WASM_STRING_H
#include <stddef.h>
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#endif
