/* The few <math.h> functions the kernels use, for the freestanding wasm32 build (libm-wasm.c).
 * sqrtf and fabsf are single wasm instructions. */
#ifndef MC_WASM_MATH_H
#define MC_WASM_MATH_H
#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
static inline float sqrtf(float x) { return __builtin_sqrtf(x); }
static inline float fabsf(float x) { return __builtin_fabsf(x); }
float expf(float x);
float logf(float x);
float fmaf(float x, float y, float z);
#endif
