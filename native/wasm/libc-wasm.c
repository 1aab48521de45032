/*
 * The memory functions of the freestanding wasm32 build (there is no libc in the target). With bulk
 * memory enabled clang lowers these builtins to single memory.copy / memory.fill instructions, which
 * the engine runs at memcpy speed; abort is the trap instruction.
 */
#include <stdlib.h>
#include <string.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  __builtin_memcpy(dst, src, n);
  return dst;
}

/* memory.copy is defined for overlapping ranges (as memmove) */
void *memmove(void *dst, const void *src, size_t n) {
  __builtin_memmove(dst, src, n);
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  __builtin_memset(dst, c, n);
  return dst;
}

_Noreturn void abort(void) { __builtin_trap(); }
