/* NN kernel bodies for any CPU (baseline flags). */
#define NN_IMPL mc_nn_generic
#include "nn-impl.h"
