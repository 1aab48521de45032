/*
 * N-API wrappers of the int8 KV cache kernels (attention-kv8.h): kv8Quantize and attentionFwdKv8,
 * argument order as in src/backends/kernels-kv8.ts. Every typed array's type and every window is
 * checked here, so the kernels never touch memory outside them. Registered by addon.c through
 * mc_register_kv8().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "attention-kv8.h"

#define MAX_DIM MC_ARG_MAX_DIM

/* A typed array of type `want` whose window [off, off + n) lies inside it; *data points at element off. */
static bool karray(mc_argctx *c, napi_value v, napi_value off, const char *name, napi_typedarray_type want,
                   const char *tname, size_t esize, double n, void **data) {
  void *d = NULL;
  double len, o;
  if (!mc_arg_typed(c, v, name, want, tname, &d, &len) || !mc_arg_uint(c, off, name, MAX_DIM, &o)) return false;
  if (o + n > len) return mc_arg_fail(c, true, "%s needs %.0f elements from offset %.0f, has %.0f", name, n, o, len);
  *data = (char *)d + (size_t)o * esize;
  return true;
}

/* kv8Quantize(x, xo, rows, D, codes, co, scales, so) */
static napi_value js_kv8_quantize(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "kv8Quantize"};
  napi_value a[8];
  if (!mc_arg_count(&c, info, 8, a)) return NULL;
  double rows, D;
  void *x = NULL, *codes = NULL, *scales = NULL;
  if (!mc_arg_uint(&c, a[2], "rows", MAX_DIM, &rows) || !mc_arg_uint(&c, a[3], "D", MAX_DIM, &D)) return NULL;
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
  mc_argctx c = {env, "attentionFwdKv8"};
  napi_value a[24];
  if (!mc_arg_count(&c, info, 24, a)) return NULL;
  double cap, B, T, S, Hq, Hkv, D, qoff, causal, scale;
  if (!mc_arg_uint(&c, a[10], "cap", MAX_DIM, &cap) || !mc_arg_uint(&c, a[15], "B", MAX_DIM, &B) || !mc_arg_uint(&c, a[16], "T", MAX_DIM, &T) ||
      !mc_arg_uint(&c, a[17], "S", MAX_DIM, &S) || !mc_arg_uint(&c, a[18], "Hq", MAX_DIM, &Hq) || !mc_arg_uint(&c, a[19], "Hkv", MAX_DIM, &Hkv) ||
      !mc_arg_uint(&c, a[20], "D", MAX_DIM, &D) || !mc_arg_uint(&c, a[21], "qOffset", MAX_DIM, &qoff) || !mc_arg_uint(&c, a[22], "causal", MAX_DIM, &causal))
    return NULL;
  if (napi_get_value_double(env, a[23], &scale) != napi_ok) {
    mc_arg_fail(&c, false, "scale must be a number");
    return NULL;
  }
  if (Hkv < 1 || Hq < Hkv || (long long)Hq % (long long)Hkv) {
    mc_arg_fail(&c, true, "Hq %.0f must be a positive multiple of Hkv %.0f", Hq, Hkv);
    return NULL;
  }
  if (cap < S) {
    mc_arg_fail(&c, true, "cap %.0f is smaller than S %.0f", cap, S);
    return NULL;
  }
  if (causal && qoff + T > S) {
    mc_arg_fail(&c, true, "causal attention needs qOffset + T <= S (%.0f + %.0f > %.0f)", qoff, T, S);
    return NULL;
  }
  /* the cache window: B entries cap positions apart, S positions read from each */
  const double rowsKv = B > 0 && S > 0 ? (B - 1) * cap + S : 0, nq = B * T * Hq * D;
  void *q = NULL, *k = NULL, *ks = NULL, *v = NULL, *vs = NULL, *out = NULL, *lse = NULL;
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
  static const mc_binding fns[] = {{"kv8Quantize", js_kv8_quantize}, {"attentionFwdKv8", js_attention_fwd_kv8}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
