/*
 * expf and logf for the freestanding wasm32 build. The kernels use them outside their inner loops
 * (softmax merges, log-sum-exp), so they are computed in double precision and rounded once: results
 * are within 1 ulp of the correctly rounded value, like a good libm.
 */
#include <math.h>
#include <stdint.h>

float expf(float xf) {
  if (xf != xf) return xf;
  if (xf > 88.8f) return INFINITY;
  if (xf < -104.0f) return 0.0f;
  const double x = xf;
  /* x = n·ln2 + r, |r| <= ln2/2; e^r by its Taylor series to r^11 (error < 1e-17 relative) */
  const double n = __builtin_nearbyint(x * 1.4426950408889634);
  const double r = x - n * 0.6931471805599453;
  double p = 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  union { uint64_t u; double d; } s;
  s.u = (uint64_t)((int64_t)n + 1023) << 52;  /* 2^n, n in [-150, 128]: a normal double */
  return (float)(p * s.d);
}

float logf(float xf) {
  if (xf != xf || xf < 0.0f) return NAN;
  if (xf == 0.0f) return -INFINITY;
  if (xf == INFINITY) return xf;
  /* x = m·2^e with m in [√½, √2); log m = 2·atanh(z), z = (m−1)/(m+1), |z| < 0.172 */
  union { uint64_t u; double d; } v;
  v.d = (double)xf;  /* subnormal floats are normal doubles */
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m = v.d;
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const double z = (m - 1.0) / (m + 1.0), z2 = z * z;
  double s = 1.0 / 15.0;  /* atanh(z)/z = Σ z^(2i)/(2i+1), to z^14: error < 1e-13 */
  s = s * z2 + 1.0 / 13.0;
  s = s * z2 + 1.0 / 11.0;
  s = s * z2 + 1.0 / 9.0;
  s = s * z2 + 1.0 / 7.0;
  s = s * z2 + 1.0 / 5.0;
  s = s * z2 + 1.0 / 3.0;
  s = s * z2 + 1.0;
  return (float)(2.0 * z * s + e * 0.6931471805599453);
}

/* x·y + z rounded once (qmatmul.c's portable tiles), without an FMA instruction: the product is exact
 * in double (24 + 24 bits); the sum is taken in double rounded to odd (the lowest mantissa bit records
 * whether anything was lost), and a double rounded to odd rounds to the same float as the exact value
 * because it carries more than float's 24 + 1 bits. */
float fmaf(float x, float y, float z) {
  const double p = (double)x * (double)y, zd = z, s = p + zd;
  if (s != s || s - s != 0.0) return (float)s; /* NaN or infinity: nothing to correct */
  const double t = s - p, err = (p - (s - t)) + (zd - t); /* exact: s + err = p + z (Knuth's two-sum) */
  union { uint64_t u; double d; } v = {.d = s};
  if (err != 0.0 && !(v.u & 1)) /* s is not 0 here: a sum that rounds to 0 is exact */
    v.u += ((err > 0.0) == (s > 0.0)) ? 1 : (uint64_t)-1; /* one ulp toward the exact value */
  return (float)v.d;
}
