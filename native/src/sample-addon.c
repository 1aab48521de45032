/*
 * N-API wrappers of the sampler's linear passes (sample-stages.h). Each array must hold at least the
 * entries the call touches (checked; RangeError otherwise):
 *   sampleScale(l: Float32Array, n, inv)                                   l[0, n) *= inv
 *   sampleHeapTopK(ids: Int32Array, l: Float32Array, n, k, hIds, hL)       k best into [0, k); 1 <= k < n
 *   sampleBestPositions(ids, l, n, k, out: Int32Array)                     best-first positions into out
 *   sampleKeepAtLeast(ids, l, probs: Float32Array, n, floor, renorm) → kept count
 *   sampleDraw(ids, probs, n, u) → id                                      n >= 1
 *   sampleRenormalize4(probs, n)
 * Registered through mc_register_sample(), called by addon-decode.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "addon-args.h"
#include "sample-stages.h"

/* a[i] is a typed array of `type` holding at least `need` elements: its data. */
static bool arr(mc_argctx *c, napi_value v, const char *name, napi_typedarray_type type, const char *tname,
                double need, void **data) {
  double len;
  if (!mc_arg_typed(c, v, name, type, tname, data, &len)) return false;
  if (len < need) return mc_arg_fail(c, true, "%s holds %.0f entries, fewer than %.0f", name, len, need);
  return true;
}

static bool num(mc_argctx *c, napi_value v, const char *name, double *out) {
  if (napi_get_value_double(c->env, v, out) == napi_ok) return true;
  return mc_arg_fail(c, false, "%s must be a number", name);
}

static napi_value ret_double(napi_env env, double x) {
  napi_value r;
  return napi_create_double(env, x, &r) == napi_ok ? r : NULL;
}

#define I32 napi_int32_array, "Int32Array"
#define F32 napi_float32_array, "Float32Array"

static napi_value js_scale(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleScale"};
  napi_value a[3];
  double n, inv;
  void *l;
  if (!mc_arg_count(&c, info, 3, a) || !mc_arg_uint(&c, a[1], "n", MC_ARG_MAX_DIM, &n) ||
      !num(&c, a[2], "inv", &inv) || !arr(&c, a[0], "l", F32, n, &l))
    return NULL;
  mc_sample_scale(l, (size_t)n, inv);
  return NULL;
}

static napi_value js_heap_topk(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleHeapTopK"};
  napi_value a[6];
  double n, k;
  void *ids, *l, *hi, *hl;
  if (!mc_arg_count(&c, info, 6, a) || !mc_arg_uint(&c, a[2], "n", MC_ARG_MAX_DIM, &n) ||
      !mc_arg_uint(&c, a[3], "k", MC_ARG_MAX_DIM, &k))
    return NULL;
  if (!(k >= 1 && k < n)) {
    mc_arg_fail(&c, true, "k must be in [1, n), got k = %.0f, n = %.0f", k, n);
    return NULL;
  }
  if (!arr(&c, a[0], "ids", I32, n, &ids) || !arr(&c, a[1], "l", F32, n, &l) ||
      !arr(&c, a[4], "hIds", I32, k, &hi) || !arr(&c, a[5], "hL", F32, k, &hl))
    return NULL;
  mc_sample_heap_topk(ids, l, (size_t)n, (size_t)k, hi, hl);
  return NULL;
}

static napi_value js_best_positions(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleBestPositions"};
  napi_value a[5];
  double n, k;
  void *ids, *l, *out;
  if (!mc_arg_count(&c, info, 5, a) || !mc_arg_uint(&c, a[2], "n", MC_ARG_MAX_DIM, &n) ||
      !mc_arg_uint(&c, a[3], "k", MC_ARG_MAX_DIM, &k) || !arr(&c, a[0], "ids", I32, n, &ids) ||
      !arr(&c, a[1], "l", F32, n, &l) || !arr(&c, a[4], "out", I32, k < n ? k : n, &out))
    return NULL;
  mc_sample_best_positions(ids, l, (size_t)n, (size_t)k, out);
  return NULL;
}

static napi_value js_keep_at_least(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleKeepAtLeast"};
  napi_value a[6];
  double n, floor;
  bool renorm;
  void *ids, *l, *probs;
  if (!mc_arg_count(&c, info, 6, a) || !mc_arg_uint(&c, a[3], "n", MC_ARG_MAX_DIM, &n) ||
      !num(&c, a[4], "floor", &floor) || !arr(&c, a[0], "ids", I32, n, &ids) || !arr(&c, a[1], "l", F32, n, &l) ||
      !arr(&c, a[2], "probs", F32, n, &probs))
    return NULL;
  if (napi_get_value_bool(env, a[5], &renorm) != napi_ok) {
    mc_arg_fail(&c, false, "renorm must be a boolean");
    return NULL;
  }
  return ret_double(env, (double)mc_sample_keep_at_least(ids, l, probs, (size_t)n, floor, renorm));
}

static napi_value js_draw(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleDraw"};
  napi_value a[4];
  double n, u;
  void *ids, *probs;
  if (!mc_arg_count(&c, info, 4, a) || !mc_arg_uint(&c, a[2], "n", MC_ARG_MAX_DIM, &n) || !num(&c, a[3], "u", &u))
    return NULL;
  if (n < 1) {
    mc_arg_fail(&c, true, "n must be at least 1");
    return NULL;
  }
  if (!arr(&c, a[0], "ids", I32, n, &ids) || !arr(&c, a[1], "probs", F32, n, &probs)) return NULL;
  return ret_double(env, (double)mc_sample_draw(ids, probs, (size_t)n, u));
}

static napi_value js_renormalize4(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "sampleRenormalize4"};
  napi_value a[2];
  double n;
  void *probs;
  if (!mc_arg_count(&c, info, 2, a) || !mc_arg_uint(&c, a[1], "n", MC_ARG_MAX_DIM, &n) ||
      !arr(&c, a[0], "probs", F32, n, &probs))
    return NULL;
  mc_sample_renormalize4(probs, (size_t)n);
  return NULL;
}

napi_value mc_register_sample(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {{"sampleScale", js_scale},
             {"sampleHeapTopK", js_heap_topk},
             {"sampleBestPositions", js_best_positions},
             {"sampleKeepAtLeast", js_keep_at_least},
             {"sampleDraw", js_draw},
             {"sampleRenormalize4", js_renormalize4}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
