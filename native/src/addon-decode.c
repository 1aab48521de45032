/*
 * N-API wrappers of the decode-side kernels (decode-*.h):
 *   argmaxF32(x: Float32Array) → number   the first index of the largest non-NaN entry (0 when all are
 *                                          NaN, -1 for an empty array); a subarray reads its own range.
 * Registered by addon.c through mc_register_decode().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

#include "decode-argmax.h"

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

napi_value mc_register_decode(napi_env env, napi_value exports) {
  napi_value f;
  if (napi_create_function(env, "argmaxF32", NAPI_AUTO_LENGTH, js_argmax_f32, NULL, &f) != napi_ok ||
      napi_set_named_property(env, exports, "argmaxF32", f) != napi_ok)
    return NULL;
  return exports;
}
