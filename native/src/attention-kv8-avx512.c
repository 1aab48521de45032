/* Int8 KV cache kernel bodies with AVX-512 widening (this file is built with -mavx512f and friends). */
#define KV8_IMPL mc_kv8_avx512
#include "attention-kv8-impl.h"
