/*
 * N-API wrappers of the int8 KV cache kernels (attention-kv8.h): kv8Quantize and attentionFwdKv8,
 * argument order as in src/backends/kernels-kv8.ts. Every typed array's type and every window is
 * checked here, so the kernels never touch memory outside them. Registered by addon.c through
 * mc_register_kv8().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "addon-errors.h"
#include "attention-kv8.h"

#define MAX_DIM 2147483647.0

typedef struct {
  napi_env env;
  const char *fn;
} kctx_t;

static bool kfail(kctx_t *c, bool range, const char *fmt, ...) {
  char msg[320], detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "%s: %s", c->fn, detail);
  if (range) napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
  else napi_throw_type_error(c->env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool kint(kctx_t *c, napi_value v, const char *name, double *out) {
  if (napi_get_value_double(c->env, v, out) != napi_ok) return kfail(c, false, "%s must be a number", name);
  const double x = *out;
  if (x >= 0 && x <= MAX_DIM && x == (double)(long long)x) return true;
  return kfail(c, true, "%s must be an integer in [0, %.0f], got %g", name, MAX_DIM, x);
}

/* A typed array of type `want` whose window [off, off + n) lies inside it; *data points at element off. */
static bool karray(kctx_t *c, napi_value v, napi_value off, const char *name, napi_typedarray_type want,
                   const char *tname, size_t esize, double n, void **data) {
  bool is = false;
  napi_typedarray_type type;
  size_t len;
  void *d = NULL;
  double o;
  if (napi_is_typedarray(c->env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, v, &type, &len, &d, NULL, NULL) != napi_ok || type != want)
    return kfail(c, false, "%s must be a %s", name, tname);
  if (!kint(c, off, name, &o)) return false;
  if (o + n > (double)len)
    return kfail(c, true, "%s needs %.0f elements from offset %.0f, has %zu", name, n, o, len);
  *data = (char *)d + (size_t)o * esize;
  return true;
}

/* kv8Quantize(x, xo, rows, D, codes, co, scales, so) */
static napi_value js_kv8_quantize(napi_env env, napi_callback_info info) {
  kctx_t c = {env, "kv8Quantize"};
  napi_value a[8];
  size_t argc = 8;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 8) {
    kfail(&c, false, "expected 8 arguments");
    return NULL;
  }
  double rows, D;
  void *x, *codes, *scales;
  if (!kint(&c, a[2], "rows", &rows) || !kint(&c, a[3], "D", &D)) return NULL;
  if (!karray(&c, a[0], a[1], "x", napi_float32_array, "Float32Array", 4, rows * D, &x) ||
      !karray(&c, a[4], a[5], "codes", napi_int8_array, "Int8Array", 1, rows * D, &codes) ||
      !karray(&c, a[6], a[7], "scales", napi_float32_array, "Float32Array", 4, rows, &scales))
    return NULL;
  mc_kv8_quantize(x, (long)rows, (int)D, codes, scales);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* attentionFwdKv8(q, qo, k, ko, ks, kso, v, vo, vs, vso, cap, out, oo, lse, lo, B, T, S, Hq, Hkv, D, qOffset,
 *                 causal, scale) */
static napi_value js_attention_fwd_kv8(napi_env env, napi_callback_info info) {
  kctx_t c = {env, "attentionFwdKv8"};
  napi_value a[24];
  size_t argc = 24;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 24) {
    kfail(&c, false, "expected 24 arguments");
    return NULL;
  }
  double cap, B, T, S, Hq, Hkv, D, qoff, causal, scale;
  if (!kint(&c, a[10], "cap", &cap) || !kint(&c, a[15], "B", &B) || !kint(&c, a[16], "T", &T) ||
      !kint(&c, a[17], "S", &S) || !kint(&c, a[18], "Hq", &Hq) || !kint(&c, a[19], "Hkv", &Hkv) ||
      !kint(&c, a[20], "D", &D) || !kint(&c, a[21], "qOffset", &qoff) || !kint(&c, a[22], "causal", &causal))
    return NULL;
  if (napi_get_value_double(env, a[23], &scale) != napi_ok) {
    kfail(&c, false, "scale must be a number");
    return NULL;
  }
  if (Hkv < 1 || Hq < Hkv || (long long)Hq % (long long)Hkv) {
    kfail(&c, true, "Hq %.0f must be a positive multiple of Hkv %.0f", Hq, Hkv);
    return NULL;
  }
  if (cap < S) {
    kfail(&c, true, "cap %.0f is smaller than S %.0f", cap, S);
    return NULL;
  }
  if (causal && qoff + T > S) {
    kfail(&c, true, "causal attention needs qOffset + T <= S (%.0f + %.0f > %.0f)", qoff, T, S);
    return NULL;
  }
  /* the cache window: B entries cap positions apart, S positions read from each */
  const double rowsKv = B > 0 && S > 0 ? (B - 1) * cap + S : 0, nq = B * T * Hq * D;
  void *q, *k, *ks, *v, *vs, *out, *lse;
  if (!karray(&c, a[0], a[1], "q", napi_float32_array, "Float32Array", 4, nq, &q) ||
      !karray(&c, a[2], a[3], "k", napi_int8_array, "Int8Array", 1, rowsKv * Hkv * D, &k) ||
      !karray(&c, a[4], a[5], "kScales", napi_float32_array, "Float32Array", 4, rowsKv * Hkv, &ks) ||
      !karray(&c, a[6], a[7], "v", napi_int8_array, "Int8Array", 1, rowsKv * Hkv * D, &v) ||
      !karray(&c, a[8], a[9], "vScales", napi_float32_array, "Float32Array", 4, rowsKv * Hkv, &vs) ||
      !karray(&c, a[11], a[12], "out", napi_float32_array, "Float32Array", 4, nq, &out) ||
      !karray(&c, a[13], a[14], "lse", napi_float32_array, "Float32Array", 4, B * Hq * T, &lse))
    return NULL;
  mc_attention_fwd_kv8(q, k, ks, v, vs, (int)cap, out, lse, (int)B, (int)T, (int)S, (int)Hq, (int)Hkv, (int)D,
                       (int)qoff, causal != 0, (float)scale);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

napi_value mc_register_kv8(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"kv8Quantize", js_kv8_quantize}, {"attentionFwdKv8", js_attention_fwd_kv8}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  return exports;
}
