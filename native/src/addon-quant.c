/*
 * N-API wrappers of the quantized matmul (qmatmul.h): qquantize and qmatmul, argument order as in
 * src/backends/kernels-quant.ts. Every typed array's type and every window (x rows, the weights' tiles
 * × blocks, perm entries, y rows) is checked here, so the kernels can never touch memory outside them.
 * Registered by addon.c through mc_register_quant().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "addon-qrun.h"
#include "mc.h"
#include "qmatmul.h"

#define MAX_DIM MC_ARG_MAX_DIM

/* perm: null or an Int32Array of K entries in [0, K). */
static bool qperm(mc_argctx *c, napi_value v, double K, const int32_t **perm) {
  napi_valuetype t = napi_undefined;
  napi_typeof(c->env, v, &t);
  *perm = NULL;
  if (t == napi_null || t == napi_undefined) return true;
  void *d = NULL;
  double len = 0;
  if (!mc_arg_typed(c, v, "perm", napi_int32_array, "Int32Array or null", &d, &len)) return false;
  if (len != K) return mc_arg_fail(c, true, "perm has %.0f entries, expected K = %.0f", len, K);
  const int32_t *p = d;
  for (long j = 0; j < (long)K; j++)
    if (p[j] < 0 || p[j] >= K) return mc_arg_fail(c, true, "perm[%ld] = %d is outside [0, %.0f)", j, p[j], K);
  *perm = p;
  return true;
}

/* x window: M rows of ldx from xOff, each reading columns [0, K) (perm entries are < K). */
static bool qx(mc_argctx *c, double xLen, double xOff, double M, double K, double ldx) {
  if (M > 1 && ldx < K) return mc_arg_fail(c, true, "ldx = %.0f is smaller than K = %.0f", ldx, K);
  if (M == 0 || K == 0) return true;
  const double last = xOff + (M - 1) * ldx + K - 1;
  if (last >= xLen) return mc_arg_fail(c, true, "x needs %.0f elements, has %.0f", last + 1, xLen);
  return true;
}

/* qquantize(M, K, x, xOff, ldx, perm, xq, xd, xs) */
static napi_value js_qquantize(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qquantize"};
  napi_value a[9];
  if (!mc_arg_count(&c, info, 9, a)) return NULL;
  double M = 0, K = 0, xOff = 0, ldx = 0, xLen = 0, qLen = 0, dLen = 0, sLen = 0;
  void *x, *xq, *xd, *xs;
  const int32_t *perm;
  if (!mc_arg_uint(&c, a[0], "M", MAX_DIM, &M) || !mc_arg_uint(&c, a[1], "K", MAX_DIM, &K) ||
      !mc_arg_typed(&c, a[2], "x", napi_float32_array, "Float32Array", &x, &xLen) ||
      !mc_arg_uint(&c, a[3], "xOff", 9007199254740991.0, &xOff) || !mc_arg_uint(&c, a[4], "ldx", MAX_DIM, &ldx) ||
      !mc_arg_typed(&c, a[6], "xq", napi_int8_array, "Int8Array", &xq, &qLen) ||
      !mc_arg_typed(&c, a[7], "xd", napi_float32_array, "Float32Array", &xd, &dLen) ||
      !mc_arg_typed(&c, a[8], "xs", napi_int32_array, "Int32Array", &xs, &sLen))
    return NULL;
  if ((long)K % MC_QBLOCK) {
    mc_arg_fail(&c, true, "K = %.0f is not a multiple of 32", K);
    return NULL;
  }
  if (!qperm(&c, a[5], K, &perm) || !qx(&c, xLen, xOff, M, K, ldx)) return NULL;
  if (qLen < M * K || dLen < M * K / 32 || sLen < M * K / 32) {
    mc_arg_fail(&c, true, "xq needs %.0f entries and xd, xs %.0f", M * K, M * K / 32);
    return NULL;
  }
  mc_qquantize((int)M, (int)K, (const float *)x + (size_t)xOff, (long)ldx, perm, xq, xd, xs);
  return NULL;
}

static bool element(mc_argctx *c, napi_value arr, uint32_t i, napi_value *out) {
  if (napi_get_element(c->env, arr, i, out) == napi_ok) return true;
  return mc_arg_fail(c, false, "an array element cannot be read");
}

bool mc_arg_qrun(mc_argctx *c, double K, napi_value bitsV, napi_value permV, napi_value codesV, napi_value scalesV,
                 napi_value zerosV, napi_value nsV, napi_value symV, mc_qrun *r) {
  napi_env env = c->env;
  double bits = 0, sym = 0;
  napi_valuetype st = napi_undefined;
  if (symV) napi_typeof(env, symV, &st);
  if (st != napi_undefined && !mc_arg_uint(c, symV, "sym", (1 << MC_QMAX_WEIGHTS) - 1, &sym)) return false;
  if (!mc_arg_uint(c, bitsV, "bits", 8, &bits)) return false;
  if (bits != 2 && bits != 4 && bits != 8) return mc_arg_fail(c, true, "bits must be 2, 4 or 8, got %.0f", bits);
  if ((long)K % MC_QBLOCK || K == 0) return mc_arg_fail(c, true, "K = %.0f is not a positive multiple of 32", K);
  if (!qperm(c, permV, K, &r->perm)) return false;
  napi_value arrays[4] = {codesV, scalesV, zerosV, nsV};
  uint32_t len[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; i++) {
    bool is = false;
    napi_is_array(env, arrays[i], &is);
    if (!is) return mc_arg_fail(c, false, "codes, scales, zeros and ns must be arrays");
    napi_get_array_length(env, arrays[i], &len[i]);
  }
  const uint32_t count = len[0];
  if (count < 1 || count > MC_QMAX_WEIGHTS || len[1] != count || len[2] != count || len[3] != count)
    return mc_arg_fail(c, true, "codes, scales, zeros and ns need the same length in [1, %d]", MC_QMAX_WEIGHTS);
  double total = 0;
  const double B = K / MC_QBLOCK;
  for (uint32_t i = 0; i < count; i++) {
    napi_value cv, sv, zv, nv;
    void *cd, *sd, *zd;
    double cl = 0, sl = 0, zl = 0, ni = 0;
    if (!element(c, codesV, i, &cv) || !element(c, scalesV, i, &sv) || !element(c, zerosV, i, &zv) ||
        !element(c, nsV, i, &nv) ||
        !mc_arg_typed(c, cv, "codes[i]", napi_uint8_array, "Uint8Array", &cd, &cl) ||
        !mc_arg_typed(c, sv, "scales[i]", napi_uint16_array, "Uint16Array", &sd, &sl) ||
        !mc_arg_typed(c, zv, "zeros[i]", napi_uint8_array, "Uint8Array", &zd, &zl) ||
        !mc_arg_uint(c, nv, "ns[i]", MAX_DIM, &ni))
      return false;
    const double tiles = (double)(((long)ni + MC_QTILE - 1) / MC_QTILE);
    if (cl < tiles * B * 64 * bits || sl < tiles * B * MC_QTILE || zl < tiles * B * MC_QTILE)
      return mc_arg_fail(c, true, "weight %u is too small for %.0f rows × %.0f columns at %.0f bits", i, ni, K, bits);
    r->codes[i] = cd;
    r->scales[i] = sd;
    r->zeros[i] = zd;
    r->n[i] = (int)ni;
    total += ni;
  }
  if (total > MAX_DIM) return mc_arg_fail(c, true, "the %.0f outputs exceed %.0f", total, (double)MAX_DIM);
  if ((unsigned)sym >> count)
    return mc_arg_fail(c, true, "sym = %.0f names a weight past the %u given", sym, count);
  r->sym = (unsigned)sym;
  r->bits = (int)bits;
  r->K = (int)K;
  r->count = (int)count;
  r->total = (int)total;
  return true;
}

/* qmatmul(M, K, bits, x, xOff, ldx, perm, codes[], scales[], zeros[], ns[], y, yOff, ldy[, sym]) */
static napi_value js_qmatmul(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qmatmul"};
  napi_value a[15];
  size_t argc = 15; /* N-API fills a missing sym with undefined */
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 14) {
    mc_arg_fail(&c, false, "expected 14 or 15 arguments");
    return NULL;
  }
  double M = 0, K = 0, xOff = 0, ldx = 0, xLen = 0, yOff = 0, ldy = 0, yLen = 0;
  void *x, *y;
  mc_qrun r;
  if (!mc_arg_uint(&c, a[0], "M", MAX_DIM, &M) || !mc_arg_uint(&c, a[1], "K", MAX_DIM, &K) ||
      !mc_arg_typed(&c, a[3], "x", napi_float32_array, "Float32Array", &x, &xLen) ||
      !mc_arg_uint(&c, a[4], "xOff", 9007199254740991.0, &xOff) || !mc_arg_uint(&c, a[5], "ldx", MAX_DIM, &ldx) ||
      !mc_arg_typed(&c, a[11], "y", napi_float32_array, "Float32Array", &y, &yLen) ||
      !mc_arg_uint(&c, a[12], "yOff", 9007199254740991.0, &yOff) || !mc_arg_uint(&c, a[13], "ldy", MAX_DIM, &ldy) ||
      !mc_arg_qrun(&c, K, a[2], a[6], a[7], a[8], a[9], a[10], a[14], &r) || !qx(&c, xLen, xOff, M, K, ldx))
    return NULL;
  const double total = r.total;
  if (M > 1 && ldy < total) {
    mc_arg_fail(&c, true, "ldy = %.0f is smaller than the %.0f outputs", ldy, total);
    return NULL;
  }
  if (M > 0 && total > 0 && yOff + (M - 1) * ldy + total > yLen) {
    mc_arg_fail(&c, true, "y needs %.0f elements, has %.0f", yOff + (M - 1) * ldy + total, yLen);
    return NULL;
  }
  mc_qmatmul_run((int)M, (const float *)x + (size_t)xOff, (long)ldx, &r, (float *)y + (size_t)yOff, (long)ldy);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* hugeAlignOffset(arrayBuffer): bytes from its start to its first 2 MiB boundary (-1 when it has none), with
 * transparent huge pages requested from there to its end. Quantized weights above a few MiB get a buffer
 * each (src/quant/qweight.ts), a fresh mapping placed wherever the allocator put it: its first and last
 * partial 2 MiB stayed on 4 KiB pages, ~20% of a W8 5760 x 2304 matrix (2.7 of 14.5 MB). Asked before the
 * first write, so the first touch gets huge pages. */
static napi_value js_huge_align_offset(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "hugeAlignOffset"};
  napi_value a[1], r;
  void *data = NULL;
  size_t len = 0;
  if (!mc_arg_count(&c, info, 1, a) || !mc_arg_arraybuffer(&c, a[0], "buffer", &data, &len)) return NULL;
  const uintptr_t huge = (uintptr_t)2 << 20, p = (uintptr_t)data, at = (p + huge - 1) & ~(huge - 1);
  const double off = at - p < len ? (double)(at - p) : -1.0;
  if (off >= 0) mc_advise_huge((char *)data + (size_t)off, len - (size_t)off);
  napi_create_double(env, off, &r);
  return r;
}

napi_value mc_register_quant(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {
      {"qquantize", js_qquantize}, {"qmatmul", js_qmatmul}, {"hugeAlignOffset", js_huge_align_offset}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
