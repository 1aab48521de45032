/* NN kernel bodies vectorized for AVX-512 (this file is built with -mavx512f and friends). */
#define NN_IMPL mc_nn_avx512
#include "nn-impl.h"
