/*
 * N-API wrappers of the repackers (qrepack.h), argument order as in src/backends/qrepack.ts. Every typed
 * array's type and length and every index the kernels will follow (colByte, blockGroup) is checked here,
 * so the kernels never touch memory outside their arrays. Registered by addon.c through
 * mc_register_qrepack().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

#include "addon-args.h"
#include "qrepack.h"

#define MAX_DIM MC_ARG_MAX_DIM

/* qrepackGptqCodes(qweight, out, K, bits, colByte, colShift, rowStride, codes) */
static napi_value js_gptq_codes(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qrepackGptqCodes"};
  napi_value a[8];
  double out = 0, K = 0, bits = 0, rowStride = 0, qLen = 0, cbLen = 0, csLen = 0, codesLen = 0;
  void *qw, *cb, *cs, *codes;
  if (!mc_arg_count(&c, info, 8, a) ||
      !mc_arg_typed(&c, a[0], "qweight", napi_int32_array, "Int32Array", &qw, &qLen) ||
      !mc_arg_uint(&c, a[1], "out", MAX_DIM, &out) || !mc_arg_uint(&c, a[2], "K", MAX_DIM, &K) ||
      !mc_arg_uint(&c, a[3], "bits", 8, &bits) ||
      !mc_arg_typed(&c, a[4], "colByte", napi_int32_array, "Int32Array", &cb, &cbLen) ||
      !mc_arg_typed(&c, a[5], "colShift", napi_uint8_array, "Uint8Array", &cs, &csLen) ||
      !mc_arg_uint(&c, a[6], "rowStride", MAX_DIM, &rowStride) ||
      !mc_arg_typed(&c, a[7], "codes", napi_uint8_array, "Uint8Array", &codes, &codesLen))
    return NULL;
  if (bits != 2 && bits != 4 && bits != 8) {
    mc_arg_fail(&c, true, "bits must be 2, 4 or 8, got %.0f", bits);
    return NULL;
  }
  const long per = 32 / (long)bits;
  if ((long)K % per || qLen != (K / per) * out || cbLen != K || csLen != K) {
    mc_arg_fail(&c, true, "qweight needs %.0f words and colByte, colShift %.0f entries", (K / per) * out, K);
    return NULL;
  }
  const double tiles = (double)(((long)out + 15) / 16);
  if (tiles * rowStride > codesLen) {
    mc_arg_fail(&c, true, "codes needs %.0f bytes, has %.0f", tiles * rowStride, codesLen);
    return NULL;
  }
  const int32_t *colByte = cb;
  const uint8_t *colShift = cs;
  for (long k = 0; k < (long)K; k++)
    if (colByte[k] < 0 || colByte[k] + 15 * 4 >= rowStride || colShift[k] + bits > 8) {
      mc_arg_fail(&c, true, "colByte[%ld] = %d / colShift %d is outside a row stride of %.0f", k, colByte[k],
            colShift[k], rowStride);
      return NULL;
    }
  mc_qrepack_gptq_codes(qw, (long)out, (long)K, (int)bits, colByte, colShift, (long)rowStride, codes);
  return NULL;
}

/* qrepackGptqParams(scales, qzeros, blockGroup, out, blocks, bits, zeroOffset, zmax, wscales, wzeros) → −1 | g·out + o */
static napi_value js_gptq_params(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qrepackGptqParams"};
  napi_value a[10];
  double out = 0, blocks = 0, bits = 0, zoff = 0, zmax = 0, sLen = 0, zLen = 0, bgLen = 0, wsLen = 0, wzLen = 0;
  void *sc, *qz, *bg, *ws, *wz;
  if (!mc_arg_count(&c, info, 10, a) ||
      !mc_arg_typed(&c, a[0], "scales", napi_uint16_array, "Uint16Array", &sc, &sLen) ||
      !mc_arg_typed(&c, a[1], "qzeros", napi_int32_array, "Int32Array", &qz, &zLen) ||
      !mc_arg_typed(&c, a[2], "blockGroup", napi_int32_array, "Int32Array", &bg, &bgLen) ||
      !mc_arg_uint(&c, a[3], "out", MAX_DIM, &out) || !mc_arg_uint(&c, a[4], "blocks", MAX_DIM, &blocks) ||
      !mc_arg_uint(&c, a[5], "bits", 8, &bits) || !mc_arg_uint(&c, a[6], "zeroOffset", 1, &zoff) ||
      !mc_arg_uint(&c, a[7], "zmax", 255, &zmax) ||
      !mc_arg_typed(&c, a[8], "wscales", napi_uint16_array, "Uint16Array", &ws, &wsLen) ||
      !mc_arg_typed(&c, a[9], "wzeros", napi_uint8_array, "Uint8Array", &wz, &wzLen))
    return NULL;
  if (bits != 2 && bits != 4 && bits != 8) {
    mc_arg_fail(&c, true, "bits must be 2, 4 or 8, got %.0f", bits);
    return NULL;
  }
  const long per = 32 / (long)bits;
  if (out < 1 || (long)sLen % (long)out || (long)out % per) {
    mc_arg_fail(&c, true, "scales (%.0f entries) is not groups × out = %.0f, or out is not a multiple of %ld", sLen,
          out, per);
    return NULL;
  }
  const double groups = sLen / out;
  const double params = (double)(((long)out + 15) / 16) * blocks * 16;
  if (zLen < groups * (out / per) || bgLen != blocks || wsLen < params || wzLen < params) {
    mc_arg_fail(&c, true, "qzeros needs %.0f words, blockGroup %.0f entries, wscales and wzeros %.0f",
          groups * (out / per), blocks, params);
    return NULL;
  }
  const int32_t *blockGroup = bg;
  for (long b = 0; b < (long)blocks; b++)
    if (blockGroup[b] < 0 || blockGroup[b] >= groups) {
      mc_arg_fail(&c, true, "blockGroup[%ld] = %d is not one of %.0f groups", b, blockGroup[b], groups);
      return NULL;
    }
  const long bad = mc_qrepack_gptq_params(sc, qz, blockGroup, (long)out, (long)blocks, (int)bits, (int)zoff,
                                          (int)zmax, ws, wz);
  napi_value r;
  napi_create_double(env, (double)bad, &r);
  return r;
}

/* qrepackQ4_0 / qrepackQ8_0(data, out, blocks, codes, scales, zeros) */
static napi_value gguf_rows(napi_env env, napi_callback_info info, int bits) {
  mc_argctx c = {env, bits == 4 ? "qrepackQ4_0" : "qrepackQ8_0"};
  napi_value a[6];
  double out = 0, blocks = 0, dLen = 0, cLen = 0, sLen = 0, zLen = 0;
  void *d, *codes, *sc, *z;
  if (!mc_arg_count(&c, info, 6, a) || !mc_arg_typed(&c, a[0], "data", napi_uint8_array, "Uint8Array", &d, &dLen) ||
      !mc_arg_uint(&c, a[1], "out", MAX_DIM, &out) || !mc_arg_uint(&c, a[2], "blocks", MAX_DIM, &blocks) ||
      !mc_arg_typed(&c, a[3], "codes", napi_uint8_array, "Uint8Array", &codes, &cLen) ||
      !mc_arg_typed(&c, a[4], "scales", napi_uint16_array, "Uint16Array", &sc, &sLen) ||
      !mc_arg_typed(&c, a[5], "zeros", napi_uint8_array, "Uint8Array", &z, &zLen))
    return NULL;
  const double tb = (double)(((long)out + 15) / 16) * blocks;
  const double blockBytes = bits == 4 ? 18 : 34, tileBytes = bits == 4 ? 256 : 512;
  if (dLen != out * blocks * blockBytes || cLen < tb * tileBytes || sLen < tb * 16 || zLen < tb * 16) {
    mc_arg_fail(&c, true, "data needs %.0f bytes, codes %.0f, scales and zeros %.0f entries",
          out * blocks * blockBytes, tb * tileBytes, tb * 16);
    return NULL;
  }
  if (bits == 4) mc_qrepack_q4_0(d, (long)out, (long)blocks, codes, sc, z);
  else mc_qrepack_q8_0(d, (long)out, (long)blocks, codes, sc, z);
  return NULL;
}
static napi_value js_q4_0(napi_env env, napi_callback_info info) { return gguf_rows(env, info, 4); }
static napi_value js_q8_0(napi_env env, napi_callback_info info) { return gguf_rows(env, info, 8); }

napi_value mc_register_qrepack(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {{"qrepackGptqCodes", js_gptq_codes},
             {"qrepackGptqParams", js_gptq_params},
             {"qrepackQ4_0", js_q4_0},
             {"qrepackQ8_0", js_q8_0}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
