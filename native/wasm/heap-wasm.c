/*
 * malloc for the wasm32 build, shared by every thread of the module (the JS side allocates tensor
 * storage here too, so kernels get operands without copies). Blocks are 64-byte aligned with a
 * 64-byte header; sizes are rounded to classes (multiples of 64 up to 1 KiB, then 8 classes per
 * power of two, so at most 12.5% is lost to rounding) and freed blocks wait on their class's list
 * for the next request of that class. Blocks are never split or merged: the engine's buffer pool
 * re-requests the same sizes step after step, which this serves from the lists. New memory comes
 * from a bump pointer that grows linear memory a page run at a time (wasm memory never shrinks).
 * One spin lock guards it all: allocations are rare next to the kernels' work.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wasm-internal.h"

#define HDR 64
#define WASM_PAGE 65536ULL
#define NCLASS 192
#define MAGIC 0x6d634850u /* "mcHP": catches frees of foreign pointers */

typedef struct {
  uint32_t cls, magic, size;
} hdr_t;

extern unsigned char __heap_base;

static atomic_flag lock = ATOMIC_FLAG_INIT;
static uintptr_t top;             /* next fresh byte; 0 until the first call */
static void *bins[NCLASS];        /* free lists, linked through the first word of the payload */
static size_t used_bytes, fresh_bytes;

static void acquire(void) {
  while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire)) {
  }
}
static void release(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

/* The class of a block of `total` bytes (header included, a multiple of 64) and its size. */
static int class_of(uint64_t total, uint64_t *size) {
  if (total <= 1024) {
    *size = total;
    return (int)(total / 64) - 1;
  }
  int e = 63 - __builtin_clzll(total - 1); /* total in (2^e, 2^(e+1)] */
  uint64_t step = 1ULL << (e - 3);
  uint64_t k = (total - (1ULL << e) + step - 1) / step; /* 1..8 */
  *size = (1ULL << e) + k * step;
  return 16 + (e - 10) * 8 + (int)(k - 1);
}

/* Fresh memory from the bump pointer, growing linear memory; NULL past the 4 GiB address space. */
static unsigned char *bump(uint64_t size) {
  if (!top) top = ((uintptr_t)&__heap_base + 63) & ~(uintptr_t)63;
  const uint64_t end = (uint64_t)top + size, have = (uint64_t)__builtin_wasm_memory_size(0) * WASM_PAGE;
  if (end > 0xFFFFFFFFULL) return NULL;
  if (end > have && __builtin_wasm_memory_grow(0, (size_t)((end - have + WASM_PAGE - 1) / WASM_PAGE)) == (size_t)-1)
    return NULL;
  unsigned char *p = (unsigned char *)top;
  top = (uintptr_t)end;
  fresh_bytes += size;
  return p;
}

/* zero: the caller needs zeroed memory (fresh memory from grow already is). */
static void *alloc(size_t n, int zero) {
  uint64_t size;
  const int cls = class_of(((uint64_t)n + HDR + 63) & ~63ULL, &size);
  if (cls >= NCLASS) return NULL;
  acquire();
  unsigned char *b = bins[cls];
  int reused = b != NULL;
  if (reused) bins[cls] = *(void **)(b + HDR);
  else b = bump(size);
  if (b) used_bytes += size;
  release();
  if (!b) return NULL;
  hdr_t *h = (hdr_t *)b;
  h->cls = (uint32_t)cls;
  h->magic = MAGIC;
  h->size = (uint32_t)size;
  if (zero && reused) memset(b + HDR, 0, (size_t)size - HDR);
  return b + HDR;
}

void *malloc(size_t n) { return alloc(n, 0); }

void *calloc(size_t count, size_t size) {
  if (size && count > (size_t)-1 / size) return NULL;
  return alloc(count * size, 1);
}

void free(void *p) {
  if (!p) return;
  unsigned char *b = (unsigned char *)p - HDR;
  hdr_t *h = (hdr_t *)b;
  if (h->magic != MAGIC) __builtin_trap(); /* not ours, or freed twice */
  h->magic = 0;
  acquire();
  *(void **)p = bins[h->cls];
  bins[h->cls] = b;
  used_bytes -= h->size;
  release();
}

/* Zeroed, 64-byte aligned (what mc_alloc promises and the JS tensor allocator needs). */
void *mc_wasm_zalloc(size_t n) { return alloc(n, 1); }

/* Bytes in live blocks (with headers and rounding) and bytes ever taken from linear memory. */
size_t mc_wasm_heap_used(void) { return used_bytes; }
size_t mc_wasm_heap_reserved(void) { return fresh_bytes; }
