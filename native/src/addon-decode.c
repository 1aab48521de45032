/*
 * N-API wrappers of the decode-side kernels (decode-*.h):
 *   argmaxF32(x: Float32Array) → number   the first index of the largest non-NaN entry (0 when all are
 *                                          NaN, -1 for an empty array); a subarray reads its own range.
 *   decodeAttentionBf16(q, qOff, k, kOff, v, vOff, out, outOff, lse, lseOff, B, S, Hq, Hkv, D, scale)
 *                        → boolean            one query row per sequence over a bf16 cache, every key
 *                                             visible (decode-attention.h); false when the kernel does not
 *                                             apply (the caller runs attentionFwdBf16Kv instead).
 *     q/out Float32Array [B, Hq, D], k/v Uint16Array [B, S, Hkv, D], lse Float32Array [B, Hq], each
 *     from its element offset.
 * Registered by addon.c through mc_register_decode(), which also registers the sampler's passes
 * (sample-addon.c).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "decode-argmax.h"
#include "decode-attention.h"

static napi_value js_argmax_f32(napi_env env, napi_callback_info info) {
  napi_value a[1];
  size_t argc = 1;
  bool is = false;
  napi_typedarray_type t;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 1 ||
      napi_is_typedarray(env, a[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, a[0], &t, &len, &data, NULL, NULL) != napi_ok || t != napi_float32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "argmaxF32: expects one Float32Array");
    return NULL;
  }
  napi_value r;
  if (napi_create_double(env, (double)mc_argmax_f32(data, len), &r) != napi_ok) return NULL;
  return r;
}

/* Array a[i] with offset a[i + 1] must hold `need` elements of `type` from the offset: its address. */
static bool window(mc_argctx *c, napi_value *a, int i, const char *name, napi_typedarray_type type,
                   const char *tname, size_t esize, double need, void **at) {
  void *data;
  double len, off;
  if (!mc_arg_typed(c, a[i], name, type, tname, &data, &len) || !mc_arg_uint(c, a[i + 1], "offset", len, &off))
    return false;
  if (off + need > len)
    return mc_arg_fail(c, true, "%s needs %.0f elements from offset %.0f but holds %.0f", name, need, off, len);
  *at = (char *)data + (size_t)off * esize;
  return true;
}

static napi_value js_decode_attention_bf16(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "decodeAttentionBf16"};
  napi_value a[16];
  if (!mc_arg_count(&c, info, 16, a)) return NULL;
  double dim[5], scale;
  static const char *names[5] = {"B", "S", "Hq", "Hkv", "D"};
  for (int i = 0; i < 5; i++)
    if (!mc_arg_uint(&c, a[10 + i], names[i], MC_ARG_MAX_DIM, &dim[i])) return NULL;
  if (napi_get_value_double(env, a[15], &scale) != napi_ok) {
    mc_arg_fail(&c, false, "scale must be a number");
    return NULL;
  }
  const double nq = dim[0] * dim[2] * dim[4], nkv = dim[0] * dim[1] * dim[3] * dim[4];
  void *q, *k, *v, *out, *lse;
  if (!window(&c, a, 0, "q", napi_float32_array, "Float32Array", 4, nq, &q) ||
      !window(&c, a, 2, "k", napi_uint16_array, "Uint16Array", 2, nkv, &k) ||
      !window(&c, a, 4, "v", napi_uint16_array, "Uint16Array", 2, nkv, &v) ||
      !window(&c, a, 6, "out", napi_float32_array, "Float32Array", 4, nq, &out) ||
      !window(&c, a, 8, "lse", napi_float32_array, "Float32Array", 4, dim[0] * dim[2], &lse))
    return NULL;
  const int done = mc_decode_attention_bf16(q, k, v, out, lse, (int)dim[0], (int)dim[1], (int)dim[2], (int)dim[3],
                                            (int)dim[4], (float)scale);
  if (mc_napi_alloc_check(env, c.fn)) return NULL;
  napi_value r;
  if (napi_get_boolean(env, done != 0, &r) != napi_ok) return NULL;
  return r;
}

/* The sampler's linear passes: sample-addon.c. */
napi_value mc_register_sample(napi_env env, napi_value exports);

napi_value mc_register_decode(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {{"argmaxF32", js_argmax_f32}, {"decodeAttentionBf16", js_decode_attention_bf16}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return mc_register_sample(env, exports);
}
