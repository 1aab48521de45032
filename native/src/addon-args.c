/* Argument checks shared by the kernel bindings (addon-args.h). */
#include "addon-args.h"

#include <stdarg.h>
#include <stdio.h>

bool mc_arg_fail(mc_argctx *c, bool range, const char *fmt, ...) {
  char msg[320], detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "%s: %s", c->fn, detail);
  if (range) napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
  else napi_throw_type_error(c->env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

bool mc_arg_uint(mc_argctx *c, napi_value v, const char *name, double max, double *out) {
  if (napi_get_value_double(c->env, v, out) != napi_ok) return mc_arg_fail(c, false, "%s must be a number", name);
  const double x = *out;
  if (x >= 0 && x <= max && x == (double)(long long)x) return true;
  return mc_arg_fail(c, true, "%s must be an integer in [0, %.0f], got %g", name, max, x);
}

bool mc_arg_arraybuffer(mc_argctx *c, napi_value v, const char *name, void **data, size_t *len) {
  bool is = false;
  if (napi_is_arraybuffer(c->env, v, &is) != napi_ok || !is ||
      napi_get_arraybuffer_info(c->env, v, data, len) != napi_ok)
    return mc_arg_fail(c, false, "%s must be an ArrayBuffer", name);
  return true;
}

bool mc_arg_typed(mc_argctx *c, napi_value v, const char *name, napi_typedarray_type want, const char *tname,
                  void **data, double *len) {
  bool is = false;
  napi_typedarray_type type;
  size_t n;
  if (napi_is_typedarray(c->env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, v, &type, &n, data, NULL, NULL) != napi_ok || type != want)
    return mc_arg_fail(c, false, "%s must be a %s", name, tname);
  *len = (double)n;
  return true;
}

bool mc_arg_window(mc_argctx *c, napi_value *a, int i, const char *name, napi_typedarray_type type,
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

bool mc_arg_cache_type(mc_argctx *c, napi_value v, const char *name, mc_cache_type *out) {
  bool is = false;
  napi_typedarray_type t = napi_float32_array;
  if (napi_is_typedarray(c->env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, v, &t, NULL, NULL, NULL, NULL) != napi_ok)
    return mc_arg_fail(c, false, "%s must be a Uint16Array (bf16) or a Float32Array", name);
  out->bf16 = t == napi_uint16_array;
  out->type = out->bf16 ? napi_uint16_array : napi_float32_array;
  out->tname = out->bf16 ? "Uint16Array" : "Float32Array";
  out->esize = out->bf16 ? 2 : 4;
  return true;
}

bool mc_arg_number(mc_argctx *c, napi_value v, const char *name, double *out) {
  if (napi_get_value_double(c->env, v, out) == napi_ok) return true;
  return mc_arg_fail(c, false, "%s must be a number", name);
}

bool mc_arg_count(mc_argctx *c, napi_callback_info info, size_t want, napi_value *a) {
  size_t argc = want;
  if (napi_get_cb_info(c->env, info, &argc, a, NULL, NULL) != napi_ok || argc < want)
    return mc_arg_fail(c, false, "expected %zu arguments", want);
  return true;
}

bool mc_export_bindings(napi_env env, napi_value exports, const mc_binding *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return false;
  }
  return true;
}
