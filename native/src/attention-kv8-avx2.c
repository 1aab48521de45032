/* Int8 KV cache kernel bodies vectorized for AVX2 (this file is built with -mavx2 -mfma). */
#define KV8_IMPL mc_kv8_avx2
#include "attention-kv8-impl.h"
