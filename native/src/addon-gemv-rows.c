/*
 * N-API wrapper of the row-exact multi-row GEMV (gemv-rows.h):
 *   gemvRows(M, N, K, X, xOff, ldx, W, wOff, ldw, Y, yOff, ldy)
 * X and Y Float32Array, W Float32Array (f32) or Uint16Array (bf16 bits) in [N, K] layout. Every
 * window is checked here, so the kernel never touches memory outside them. Registered by addon.c
 * through mc_register_gemv_rows().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>

#include "addon-errors.h"
#include "gemv-rows.h"

#define MAX_DIM 2147483647.0
#define MAX_SAFE 9007199254740991.0

static bool fail(napi_env env, bool range, const char *msg) {
  char full[256];
  snprintf(full, sizeof full, "gemvRows: %s", msg);
  if (range) napi_throw_range_error(env, "ERR_OUT_OF_RANGE", full);
  else napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", full);
  return false;
}

static bool get_uint(napi_env env, napi_value v, const char *name, double max, double *out) {
  char msg[160];
  if (napi_get_value_double(env, v, out) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    return fail(env, false, msg);
  }
  if (*out >= 0 && *out <= max && *out == (double)(long long)*out) return true;
  snprintf(msg, sizeof msg, "%s must be an integer in [0, %.0f], got %g", name, max, *out);
  return fail(env, true, msg);
}

/* A typed array of one of the allowed types, its data and element count. */
static bool get_typed(napi_env env, napi_value v, const char *name, bool allow_u16, void **data, double *len,
                      int *esize) {
  bool is = false;
  napi_typedarray_type type;
  size_t n;
  char msg[160];
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, &n, data, NULL, NULL) != napi_ok ||
      !(type == napi_float32_array || (allow_u16 && type == napi_uint16_array))) {
    snprintf(msg, sizeof msg, "%s must be a Float32Array%s", name, allow_u16 ? " or a Uint16Array (bf16 bits)" : "");
    return fail(env, false, msg);
  }
  *len = (double)n;
  *esize = type == napi_float32_array ? 4 : 2;
  return true;
}

/* rows × cols starting at off with leading dimension ld fit in len elements (nothing to fit when empty). */
static bool fits(napi_env env, const char *name, double len, double off, double ld, double rows, double cols) {
  char msg[200];
  if (rows > 0 && cols > 0 && ld < cols) {
    snprintf(msg, sizeof msg, "%s: leading dimension %.0f is below its %.0f columns", name, ld, cols);
    return fail(env, true, msg);
  }
  if (rows > 0 && cols > 0 && off + (rows - 1) * ld + cols > len) {
    snprintf(msg, sizeof msg, "%s: %.0f x %.0f from offset %.0f (ld %.0f) does not fit its %.0f elements", name,
             rows, cols, off, ld, len);
    return fail(env, true, msg);
  }
  return true;
}

static napi_value js_gemv_rows(napi_env env, napi_callback_info info) {
  napi_value a[12];
  size_t argc = 12;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 12) {
    fail(env, false, "expects 12 arguments (M, N, K, X, xOff, ldx, W, wOff, ldw, Y, yOff, ldy)");
    return NULL;
  }
  double M, N, K, xOff, ldx, wOff, ldw, yOff, ldy, xLen, wLen, yLen;
  void *X, *W, *Y;
  int xs, ws, ys;
  if (!get_uint(env, a[0], "M", MAX_DIM, &M) || !get_uint(env, a[1], "N", MAX_DIM, &N) ||
      !get_uint(env, a[2], "K", MAX_DIM, &K) || !get_typed(env, a[3], "X", false, &X, &xLen, &xs) ||
      !get_uint(env, a[4], "xOff", MAX_SAFE, &xOff) || !get_uint(env, a[5], "ldx", MAX_DIM, &ldx) ||
      !get_typed(env, a[6], "W", true, &W, &wLen, &ws) || !get_uint(env, a[7], "wOff", MAX_SAFE, &wOff) ||
      !get_uint(env, a[8], "ldw", MAX_DIM, &ldw) || !get_typed(env, a[9], "Y", false, &Y, &yLen, &ys) ||
      !get_uint(env, a[10], "yOff", MAX_SAFE, &yOff) || !get_uint(env, a[11], "ldy", MAX_DIM, &ldy))
    return NULL;
  const bool work = M > 0 && N > 0;
  if (!fits(env, "X", xLen, xOff, ldx, work ? M : 0, K) || !fits(env, "W", wLen, wOff, ldw, work ? N : 0, K) ||
      !fits(env, "Y", yLen, yOff, ldy, M, N))
    return NULL;
  mc_gemv_rows((int)M, (int)N, (int)K, (const float *)X + (size_t)xOff, (long)ldx,
               (const char *)W + (size_t)wOff * (size_t)ws, ws, (long)ldw, (float *)Y + (size_t)yOff, (long)ldy);
  mc_napi_alloc_check(env, "gemvRows");
  return NULL;
}

napi_value mc_register_gemv_rows(napi_env env, napi_value exports) {
  napi_value f;
  if (napi_create_function(env, "gemvRows", NAPI_AUTO_LENGTH, js_gemv_rows, NULL, &f) != napi_ok ||
      napi_set_named_property(env, exports, "gemvRows", f) != napi_ok)
    return NULL;
  return exports;
}
