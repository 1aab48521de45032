/*
 * N-API wrapper of top-p's linear passes (nucleus.h):
 *   nucleusSplit(n, m, p, ids, logits, probs, bucket, cutIds, cutLogits, cutProbs, out)
 * ids/cutIds Int32Array, logits/probs/cutLogits/cutProbs Float32Array, bucket Uint16Array, each holding at
 * least n entries; out a Float64Array of 3 receives [kept, cut count, mass before the cut]; an optional
 * 12th number is the visiting threshold (tests; see mc_nucleus_split_at). Registered by
 * addon.c through mc_register_nucleus().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>

#include "nucleus.h"

static bool fail(napi_env env, bool range, const char *msg) {
  char full[256];
  snprintf(full, sizeof full, "nucleusSplit: %s", msg);
  if (range) napi_throw_range_error(env, "ERR_OUT_OF_RANGE", full);
  else napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", full);
  return false;
}

/* A typed array of `type` with at least `need` elements. */
static bool get_array(napi_env env, napi_value v, const char *name, napi_typedarray_type type, double need,
                      void **data) {
  bool is = false;
  napi_typedarray_type t;
  size_t len;
  char msg[160];
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, &len, data, NULL, NULL) != napi_ok || t != type) {
    snprintf(msg, sizeof msg, "%s has the wrong type", name);
    return fail(env, false, msg);
  }
  if ((double)len < need) {
    snprintf(msg, sizeof msg, "%s holds %zu entries, fewer than %.0f", name, len, need);
    return fail(env, true, msg);
  }
  return true;
}

static napi_value js_nucleus_split(napi_env env, napi_callback_info info) {
  napi_value a[12];
  size_t argc = 12;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 11) {
    fail(env, false, "expects 11 arguments (a 12th, the visiting threshold, for tests)");
    return NULL;
  }
  double n, m, p;
  if (napi_get_value_double(env, a[0], &n) != napi_ok || napi_get_value_double(env, a[1], &m) != napi_ok ||
      napi_get_value_double(env, a[2], &p) != napi_ok) {
    fail(env, false, "n, m and p must be numbers");
    return NULL;
  }
  if (!(n >= 0 && n <= 2147483647.0 && n == (double)(long long)n)) {
    fail(env, true, "n must be an integer in [0, 2^31)");
    return NULL;
  }
  void *ids, *logits, *probs, *bucket, *cids, *clogits, *cprobs, *out;
  if (!get_array(env, a[3], "ids", napi_int32_array, n, &ids) ||
      !get_array(env, a[4], "logits", napi_float32_array, n, &logits) ||
      !get_array(env, a[5], "probs", napi_float32_array, n, &probs) ||
      !get_array(env, a[6], "bucket", napi_uint16_array, n, &bucket) ||
      !get_array(env, a[7], "cutIds", napi_int32_array, n, &cids) ||
      !get_array(env, a[8], "cutLogits", napi_float32_array, n, &clogits) ||
      !get_array(env, a[9], "cutProbs", napi_float32_array, n, &cprobs) ||
      !get_array(env, a[10], "out", napi_float64_array, 3, &out))
    return NULL;
  double guess = NAN;
  if (argc == 12 && napi_get_value_double(env, a[11], &guess) != napi_ok) {
    fail(env, false, "the threshold must be a number");
    return NULL;
  }
  int nm = 0;
  double before = 0;
  const int w = mc_nucleus_split_at((int)n, (float)m, p, ids, logits, probs, bucket, cids, clogits, cprobs, &nm,
                                    &before, guess);
  double *o = out;
  o[0] = w;
  o[1] = nm;
  o[2] = before;
  return NULL;
}

napi_value mc_register_nucleus(napi_env env, napi_value exports) {
  napi_value f;
  if (napi_create_function(env, "nucleusSplit", NAPI_AUTO_LENGTH, js_nucleus_split, NULL, &f) != napi_ok ||
      napi_set_named_property(env, exports, "nucleusSplit", f) != napi_ok)
    return NULL;
  return exports;
}
