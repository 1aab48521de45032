/*
 * Shared by the N-API wrapper files of the kernels (addon*.c, sample-addon.c): the argument checks —
 * each throws a TypeError (wrong type) or RangeError (out of range) whose message starts with the
 * binding's JavaScript name, and returns false so a wrapper can `return NULL` at once — and the
 * registration of a file's bindings.
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

/* An ArrayBuffer: its data and byte length. */
bool mc_arg_arraybuffer(mc_argctx *c, napi_value v, const char *name, void **data, size_t *len);

/* A typed array of type `want` (named tname in the message): its data and element count. */
bool mc_arg_typed(mc_argctx *c, napi_value v, const char *name, napi_typedarray_type want, const char *tname,
                  void **data, double *len);

/* Typed array a[i] with its element offset a[i + 1] must hold `need` elements of `type` (esize bytes
 * each) from that offset: *at is the address of the first. */
bool mc_arg_window(mc_argctx *c, napi_value *a, int i, const char *name, napi_typedarray_type type,
                   const char *tname, size_t esize, double need, void **at);

/* A KV cache's element type, picked by its array: Uint16Array (bf16 bits) or Float32Array. */
typedef struct {
  bool bf16;
  napi_typedarray_type type;
  const char *tname;
  size_t esize;
} mc_cache_type;

/* The element type of cache v (named `name` in the message). */
bool mc_arg_cache_type(mc_argctx *c, napi_value v, const char *name, mc_cache_type *out);

/* Any number. */
bool mc_arg_number(mc_argctx *c, napi_value v, const char *name, double *out);

/* At least `want` arguments into a. */
bool mc_arg_count(mc_argctx *c, napi_callback_info info, size_t want, napi_value *a);

/* A binding: its JavaScript name and its callback. */
typedef struct {
  const char *name;
  napi_callback cb;
} mc_binding;

/* Sets each of the n bindings as a function property of exports; false (an N-API error pending) if one
 * could not be made. */
bool mc_export_bindings(napi_env env, napi_value exports, const mc_binding *fns, size_t n);

#endif
