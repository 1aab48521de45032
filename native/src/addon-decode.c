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
 *   decodeRopeAppendAttend(q, qOff, k, kOff, v, vOff, cos, cosOff, sin, sinOff, pos, kCache, kcOff,
 *       vCache, vcOff, qr, qrOff, out, outOff, lse, lseOff, Hq, Hkv, D, scale) → boolean
 *                        RoPE of q into qr and of k in place, k/v stored as row pos of the caches (Uint16Array
 *                        bf16 bits or Float32Array), then attention over pos + 1 positions; false (nothing
 *                        touched) where the attention op would run another kernel (decode-step.h).
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
#include "decode-step.h"

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
  if (!mc_arg_window(&c, a, 0, "q", napi_float32_array, "Float32Array", 4, nq, &q) ||
      !mc_arg_window(&c, a, 2, "k", napi_uint16_array, "Uint16Array", 2, nkv, &k) ||
      !mc_arg_window(&c, a, 4, "v", napi_uint16_array, "Uint16Array", 2, nkv, &v) ||
      !mc_arg_window(&c, a, 6, "out", napi_float32_array, "Float32Array", 4, nq, &out) ||
      !mc_arg_window(&c, a, 8, "lse", napi_float32_array, "Float32Array", 4, dim[0] * dim[2], &lse))
    return NULL;
  const int done = mc_decode_attention_bf16(q, k, v, out, lse, (int)dim[0], (int)dim[1], (int)dim[2], (int)dim[3],
                                            (int)dim[4], (float)scale);
  return mc_napi_ran(env, c.fn, done);
}

static napi_value js_decode_rope_append_attend(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "decodeRopeAppendAttend"};
  napi_value a[25];
  if (!mc_arg_count(&c, info, 25, a)) return NULL;
  double pos, Hq, Hkv, D, scale;
  if (!mc_arg_uint(&c, a[10], "pos", MC_ARG_MAX_DIM - 1, &pos) ||
      !mc_arg_uint(&c, a[21], "Hq", MC_ARG_MAX_DIM, &Hq) || !mc_arg_uint(&c, a[22], "Hkv", MC_ARG_MAX_DIM, &Hkv) ||
      !mc_arg_uint(&c, a[23], "D", MC_ARG_MAX_DIM, &D) || !mc_arg_number(&c, a[24], "scale", &scale))
    return NULL;
  if ((long)D % 2) return mc_arg_fail(&c, true, "D must be even, got %.0f", D), NULL;
  /* the caches' element type picks the kernel: Uint16Array bf16 bits or Float32Array */
  mc_cache_type ct;
  if (!mc_arg_cache_type(&c, a[11], "kCache", &ct)) return NULL;
  const double nq = Hq * D, nkv = Hkv * D, cached = (pos + 1) * nkv;
  void *q, *k, *v, *cs, *sn, *kc, *vc, *qr, *out, *lse;
  if (!mc_arg_window(&c, a, 0, "q", napi_float32_array, "Float32Array", 4, nq, &q) ||
      !mc_arg_window(&c, a, 2, "k", napi_float32_array, "Float32Array", 4, nkv, &k) ||
      !mc_arg_window(&c, a, 4, "v", napi_float32_array, "Float32Array", 4, nkv, &v) ||
      !mc_arg_window(&c, a, 6, "cos", napi_float32_array, "Float32Array", 4, (pos + 1) * D / 2, &cs) ||
      !mc_arg_window(&c, a, 8, "sin", napi_float32_array, "Float32Array", 4, (pos + 1) * D / 2, &sn) ||
      !mc_arg_window(&c, a, 11, "kCache", ct.type, ct.tname, ct.esize, cached, &kc) ||
      !mc_arg_window(&c, a, 13, "vCache", ct.type, ct.tname, ct.esize, cached, &vc) ||
      !mc_arg_window(&c, a, 15, "qr", napi_float32_array, "Float32Array", 4, nq, &qr) ||
      !mc_arg_window(&c, a, 17, "out", napi_float32_array, "Float32Array", 4, nq, &out) ||
      !mc_arg_window(&c, a, 19, "lse", napi_float32_array, "Float32Array", 4, Hq, &lse))
    return NULL;
  const int done = mc_decode_rope_append_attend(q, k, v, cs, sn, (int)pos, kc, vc, ct.bf16, qr, out, lse, (int)Hq,
                                                (int)Hkv, (int)D, (float)scale);
  return mc_napi_ran(env, c.fn, done);
}

/* The sampler's linear passes: sample-addon.c. */
napi_value mc_register_sample(napi_env env, napi_value exports);

napi_value mc_register_decode(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {{"argmaxF32", js_argmax_f32},
                                   {"decodeAttentionBf16", js_decode_attention_bf16},
                                   {"decodeRopeAppendAttend", js_decode_rope_append_attend}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return mc_register_sample(env, exports);
}
