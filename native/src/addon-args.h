/*
 * Argument checks shared by the N-API wrappers of the kernels (addon-quant.c, addon-kv8.c,
 * addon-qrepack.c): each throws a TypeError (wrong type) or RangeError (out of range) whose message
 * starts with the binding's JavaScript name, and returns false so a wrapper can `return NULL` at once.
 */
#ifndef MC_ADDON_ARGS_H
#define MC_ADDON_ARGS_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <stdbool.h>

/* The largest dimension or offset a binding accepts (the kernels index with int). */
#define MC_ARG_MAX_DIM 2147483647.0

typedef struct {
  napi_env env;
  const char *fn; /* the binding's JavaScript name, first in every message */
} mc_argctx;

/* Throws "fn: <formatted detail>" as a RangeError (range) or TypeError; always returns false. */
bool mc_arg_fail(mc_argctx *c, bool range, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A number that is an integer in [0, max]. */
bool mc_arg_uint(mc_argctx *c, napi_value v, const char *name, double max, double *out);

/* A typed array of type `want` (named tname in the message): its data and element count. */
bool mc_arg_typed(mc_argctx *c, napi_value v, const char *name, napi_typedarray_type want, const char *tname,
                  void **data, double *len);

/* At least `want` arguments into a. */
bool mc_arg_count(mc_argctx *c, napi_callback_info info, size_t want, napi_value *a);

#endif
