/*
 * N-API wrappers of the NN kernels (nn.h). Each JS function takes typed arrays with element offsets
 * and sizes, described by a short signature string; every window is checked against its array so a
 * kernel can never touch memory outside it. Registered by addon.c through mc_register_nn().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "internal.h"
#include "nn.h"
#include "prefill-convert.h"
#include "prefill-residual.h"
#include "convert-bf16.h"

#define MAXARGS 24

/* A parsed call: arrays (pointer + length after the offset) and numbers, in argument order. */
typedef struct {
  napi_env env;
  const char *fn;
  void *ptr[MAXARGS];
  double len[MAXARGS]; /* elements available from the offset on */
  double num[MAXARGS];
} call_t;

static bool fail(call_t *c, bool range, const char *fmt, ...) {
  char msg[256], detail[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  snprintf(msg, sizeof msg, "%s: %s", c->fn, detail);
  if (range) napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
  else napi_throw_type_error(c->env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/*
 * Signature letters: 'f' Float32Array then its element offset, 'I' Int32Array then offset,
 * 'h' Uint16Array (bf16 bits) then offset, 'n' a number. Slot k of ptr/len/num is argument group k.
 */
static bool parse(call_t *c, napi_callback_info info, const char *sig) {
  napi_value argv[MAXARGS * 2];
  size_t argc = MAXARGS * 2;
  if (napi_get_cb_info(c->env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  size_t want = 0;
  for (const char *s = sig; *s; s++) want += (*s == 'n') ? 1 : 2;
  if (argc < want) return fail(c, false, "expected %d arguments, got %d", (int)want, (int)argc);
  size_t a = 0;
  for (int k = 0; sig[k]; k++) {
    if (sig[k] == 'n') {
      if (napi_get_value_double(c->env, argv[a++], &c->num[k]) != napi_ok)
        return fail(c, false, "argument group %d must be a number", k);
      continue;
    }
    bool is = false;
    napi_is_typedarray(c->env, argv[a], &is);
    if (!is) return fail(c, false, "argument group %d must be a typed array", k);
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_get_typedarray_info(c->env, argv[a], &type, &length, &data, NULL, NULL);
    const napi_typedarray_type want_type =
        sig[k] == 'f' ? napi_float32_array : sig[k] == 'h' ? napi_uint16_array : napi_int32_array;
    const char *want_name = sig[k] == 'f' ? "Float32Array" : sig[k] == 'h' ? "Uint16Array" : "Int32Array";
    if (type != want_type) return fail(c, false, "argument group %d must be a %s", k, want_name);
    double off;
    if (napi_get_value_double(c->env, argv[a + 1], &off) != napi_ok || off < 0 || off != (double)(long long)off || off > (double)length)
      return fail(c, true, "offset of argument group %d is %g, outside [0, %g]", k, off, (double)length);
    c->ptr[k] = (char *)data + (size_t)off * (sig[k] == 'h' ? 2 : 4);
    c->len[k] = (double)length - off;
    a += 2;
  }
  return true;
}

/* Group k must provide at least `need` elements. */
static bool need(call_t *c, int k, double need) {
  if (need < 0 || need > c->len[k]) return fail(c, true, "argument group %d needs %g elements but has %g", k, need, c->len[k]);
  return true;
}

static bool nonneg_ints(call_t *c, int from, int to) {
  for (int k = from; k < to; k++) {
    double x = c->num[k];
    if (x < 0 || x != (double)(long long)x || x > 9007199254740991.0) return fail(c, true, "argument group %d must be a non-negative integer, got %g", k, x);
  }
  return true;
}

#define BEGIN(name, sig)                         \
  call_t c = {.env = env, .fn = name};           \
  if (!parse(&c, info, sig)) return NULL;
#define F(k) ((float *)c.ptr[k])
#define I(k) ((int32_t *)c.ptr[k])
#define N(k) (c.num[k])
#define L(k) ((long)c.num[k])

static napi_value js_rmsnorm_fwd(napi_env env, napi_callback_info info) {
  BEGIN("rmsnormFwd", "ffffnnn");  /* x g y rstd rows D eps */
  if (!nonneg_ints(&c, 4, 6)) return NULL;
  double n = N(4) * N(5);
  if (!need(&c, 0, n) || !need(&c, 1, N(5)) || !need(&c, 2, n) || !need(&c, 3, N(4))) return NULL;
  mc_rmsnorm_fwd(F(0), F(1), F(2), F(3), L(4), (int)L(5), (float)N(6));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_rmsnorm_bwd(napi_env env, napi_callback_info info) {
  BEGIN("rmsnormBwd", "ffffffnn");  /* x g rstd dy dx dg rows D */
  if (!nonneg_ints(&c, 6, 8)) return NULL;
  double n = N(6) * N(7);
  if (!need(&c, 0, n) || !need(&c, 1, N(7)) || !need(&c, 2, N(6)) || !need(&c, 3, n) || !need(&c, 4, n) || !need(&c, 5, N(7))) return NULL;
  mc_rmsnorm_bwd(F(0), F(1), F(2), F(3), F(4), F(5), L(6), (int)L(7));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_softmax_fwd(napi_env env, napi_callback_info info) {
  BEGIN("softmaxFwd", "ffnnn");  /* x y rows V log */
  if (!nonneg_ints(&c, 2, 4)) return NULL;
  double n = N(2) * N(3);
  if (!need(&c, 0, n) || !need(&c, 1, n)) return NULL;
  mc_softmax_fwd(F(0), F(1), L(2), (int)L(3), N(4) != 0);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_softmax_bwd(napi_env env, napi_callback_info info) {
  BEGIN("softmaxBwd", "fffnnn");  /* y dy dx rows V log */
  if (!nonneg_ints(&c, 3, 5)) return NULL;
  double n = N(3) * N(4);
  if (!need(&c, 0, n) || !need(&c, 1, n) || !need(&c, 2, n)) return NULL;
  mc_softmax_bwd(F(0), F(1), F(2), L(3), (int)L(4), N(5) != 0);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_ce_fwd(napi_env env, napi_callback_info info) {
  BEGIN("ceFwd", "fIfnnn");  /* logits targets lse rows V ignore → [sum, count, badRow] */
  if (!nonneg_ints(&c, 3, 5)) return NULL;
  if (!need(&c, 0, N(3) * N(4)) || !need(&c, 1, N(3)) || !need(&c, 2, N(3))) return NULL;
  double out[2];
  long bad = mc_ce_fwd(F(0), I(1), F(2), L(3), (int)L(4), (int)N(5), out);
  if (mc_napi_alloc_check(env, c.fn)) return NULL;
  napi_value arr, v;
  napi_create_array_with_length(env, 3, &arr);
  double vals[3] = {out[0], out[1], (double)bad};
  for (uint32_t i = 0; i < 3; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

static napi_value js_ce_bwd(napi_env env, napi_callback_info info) {
  BEGIN("ceBwd", "fIffnnnn");  /* logits targets lse dlogits rows V scale ignore */
  if (!nonneg_ints(&c, 4, 6)) return NULL;
  double n = N(4) * N(5);
  if (!need(&c, 0, n) || !need(&c, 1, N(4)) || !need(&c, 2, N(4)) || !need(&c, 3, n)) return NULL;
  /* Targets were validated by the forward; re-check so a bad id can never index out of a row. */
  for (long r = 0; r < L(4); r++) {
    int t = I(1)[r];
    if (t != (int)N(7) && (t < 0 || t >= (int)L(5))) { fail(&c, true, "target at row %ld is %d, outside the vocabulary of %ld", r, t, L(5)); return NULL; }
  }
  mc_ce_bwd(F(0), I(1), F(2), F(3), L(4), (int)L(5), (float)N(6), (int)N(7));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_swiglu_fwd(napi_env env, napi_callback_info info) {
  BEGIN("swigluFwd", "fffn");
  if (!nonneg_ints(&c, 3, 4)) return NULL;
  if (!need(&c, 0, N(3)) || !need(&c, 1, N(3)) || !need(&c, 2, N(3))) return NULL;
  mc_swiglu_fwd(F(0), F(1), F(2), L(3));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_swiglu_bwd(napi_env env, napi_callback_info info) {
  BEGIN("swigluBwd", "fffffn");
  if (!nonneg_ints(&c, 5, 6)) return NULL;
  for (int k = 0; k < 5; k++) if (!need(&c, k, N(5))) return NULL;
  mc_swiglu_bwd(F(0), F(1), F(2), F(3), F(4), L(5));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_rope(napi_env env, napi_callback_info info) {
  BEGIN("rope", "ffffnnnnnnn");  /* x cos sin y B T H D pos0 interleaved inverse */
  if (!nonneg_ints(&c, 4, 9)) return NULL;
  double n = N(4) * N(5) * N(6) * N(7);
  double table = (N(8) + N(5)) * (N(7) / 2);
  if ((L(7) & 1) || !need(&c, 0, n) || !need(&c, 1, table) || !need(&c, 2, table) || !need(&c, 3, n)) return NULL;
  mc_rope(F(0), F(1), F(2), F(3), (int)L(4), (int)L(5), (int)L(6), (int)L(7), (int)L(8), N(9) != 0, N(10) != 0);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_adamw(napi_env env, napi_callback_info info) {
  BEGIN("adamw", "ffffnnnnnnnn");  /* p g m v n lr b1 b2 eps wd bc1 bc2 */
  if (!nonneg_ints(&c, 4, 5)) return NULL;
  for (int k = 0; k < 4; k++) if (!need(&c, k, N(4))) return NULL;
  mc_adamw(F(0), F(1), F(2), F(3), L(4), (float)N(5), (float)N(6), (float)N(7), (float)N(8), (float)N(9), (float)N(10), (float)N(11));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_unary(napi_env env, napi_callback_info info) {
  BEGIN("unary", "nffn");  /* op x y n */
  if (!nonneg_ints(&c, 0, 1) || !nonneg_ints(&c, 3, 4)) return NULL;
  if (N(0) > MC_ABS) { fail(&c, true, "unknown unary op %g", N(0)); return NULL; }
  if (!need(&c, 1, N(3)) || !need(&c, 2, N(3))) return NULL;
  mc_unary((int)N(0), F(1), F(2), L(3));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_unary_grad(napi_env env, napi_callback_info info) {
  BEGIN("unaryGrad", "nffffn");  /* op x y dy dx n */
  if (!nonneg_ints(&c, 0, 1) || !nonneg_ints(&c, 5, 6)) return NULL;
  if (N(0) > MC_ABS) { fail(&c, true, "unknown unary op %g", N(0)); return NULL; }
  for (int k = 1; k < 5; k++) if (!need(&c, k, N(5))) return NULL;
  mc_unary_grad((int)N(0), F(1), F(2), F(3), F(4), L(5));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_binary(napi_env env, napi_callback_info info) {
  BEGIN("binary", "nfffnn");  /* op a b out n period */
  if (!nonneg_ints(&c, 0, 1) || !nonneg_ints(&c, 4, 6)) return NULL;
  if (N(0) > MC_MINIMUM) { fail(&c, true, "unknown binary op %g", N(0)); return NULL; }
  if (N(5) < 1 || (L(4) % L(5)) != 0) { fail(&c, true, "period %ld must divide n = %ld", L(5), L(4)); return NULL; }
  if (!need(&c, 1, N(4)) || !need(&c, 2, N(5)) || !need(&c, 3, N(4))) return NULL;
  mc_binary((int)N(0), F(1), F(2), F(3), L(4), L(5));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* out = x + s·y, and with norm: norm = RMSNorm(out)·g (prefill-residual.h); without, g/norm are not read. */
static napi_value js_prefill_residual(napi_env env, napi_callback_info info) {
  BEGIN("prefillResidual", "fffffnnnnn");  /* x y out g norm s rows D eps withNorm */
  if (!nonneg_ints(&c, 6, 8)) return NULL;
  const double n = N(6) * N(7), withNorm = N(9) != 0;
  if (!need(&c, 0, n) || !need(&c, 1, n) || !need(&c, 2, n)) return NULL;
  if (withNorm && (!need(&c, 3, N(7)) || !need(&c, 4, n))) return NULL;
  if (F(2) < F(0) + (long)n && F(0) < F(2) + (long)n && n > 0) {
    fail(&c, true, "out must not overlap x");
    return NULL;
  }
  mc_prefill_residual(F(0), F(1), (float)N(5), F(2), withNorm ? F(3) : NULL, withNorm ? F(4) : NULL, L(6), (int)L(7),
                      (float)N(8));
  return NULL;
}

static napi_value js_affine(napi_env env, napi_callback_info info) {
  BEGIN("affine", "ffnnn");  /* x y n s t */
  if (!nonneg_ints(&c, 2, 3)) return NULL;
  if (!need(&c, 0, N(2)) || !need(&c, 1, N(2))) return NULL;
  mc_affine(F(0), F(1), L(2), (float)N(3), (float)N(4));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_reduce(napi_env env, napi_callback_info info) {
  BEGIN("reduce", "nffnnn");  /* op src dst outer r inner */
  if (!nonneg_ints(&c, 0, 1) || !nonneg_ints(&c, 3, 6)) return NULL;
  if (N(0) > 1) { fail(&c, true, "unknown reduce op %g", N(0)); return NULL; }
  if (!need(&c, 1, N(3) * N(4) * N(5)) || !need(&c, 2, N(3) * N(5))) return NULL;
  mc_reduce((int)N(0), F(1), F(2), L(3), L(4), L(5));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* Checks the attention dims (groups d..d+5 = B T S Hq Hkv D) and returns the q and kv element counts. */
static bool attn_dims(call_t *c, int d, double *nq, double *nkv) {
  if (!nonneg_ints(c, d, d + 7)) return false;
  double B = c->num[d], T = c->num[d + 1], S = c->num[d + 2], Hq = c->num[d + 3], Hkv = c->num[d + 4], D = c->num[d + 5];
  if (Hkv < 1 || Hq < Hkv || (long)Hq % (long)Hkv) return fail(c, true, "Hq %g must be a multiple of Hkv %g", Hq, Hkv);
  if (c->num[d + 7] != 0 && c->num[d + 6] + T > S) return fail(c, true, "causal attention needs qoff + T <= S (%g + %g > %g)", c->num[d + 6], T, S);
  *nq = B * T * Hq * D;
  *nkv = B * S * Hkv * D;
  return true;
}

static napi_value js_attention_fwd(napi_env env, napi_callback_info info) {
  BEGIN("attentionFwd", "fffffnnnnnnnnn");  /* q k v out lse B T S Hq Hkv D qoff causal scale */
  double nq = 0, nkv = 0;
  if (!attn_dims(&c, 5, &nq, &nkv)) return NULL;
  if (!need(&c, 0, nq) || !need(&c, 1, nkv) || !need(&c, 2, nkv) || !need(&c, 3, nq) || !need(&c, 4, N(5) * N(8) * N(6))) return NULL;
  mc_attention_fwd(F(0), F(1), F(2), F(3), F(4), (int)L(5), (int)L(6), (int)L(7), (int)L(8), (int)L(9), (int)L(10), (int)L(11), N(12) != 0, (float)N(13));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_attention_fwd_bf16kv(napi_env env, napi_callback_info info) {
  BEGIN("attentionFwdBf16Kv", "fhhffnnnnnnnnn");  /* q k v out lse B T S Hq Hkv D qoff causal scale */
  double nq = 0, nkv = 0;
  if (!attn_dims(&c, 5, &nq, &nkv)) return NULL;
  if (!need(&c, 0, nq) || !need(&c, 1, nkv) || !need(&c, 2, nkv) || !need(&c, 3, nq) || !need(&c, 4, N(5) * N(8) * N(6))) return NULL;
  mc_attention_fwd_bf16kv(F(0), (const uint16_t *)c.ptr[1], (const uint16_t *)c.ptr[2], F(3), F(4), (int)L(5), (int)L(6),
                          (int)L(7), (int)L(8), (int)L(9), (int)L(10), (int)L(11), N(12) != 0, (float)N(13));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_f32_to_bf16(napi_env env, napi_callback_info info) {
  BEGIN("f32ToBf16", "fhn");  /* x y n */
  if (!nonneg_ints(&c, 2, 3) || !need(&c, 0, N(2)) || !need(&c, 1, N(2))) return NULL;
  mc_f32_to_bf16_par(F(0), (uint16_t *)c.ptr[1], L(2));
  return NULL;
}

static napi_value js_bf16_to_f32(napi_env env, napi_callback_info info) {
  BEGIN("bf16ToF32", "hfn");  /* x y n */
  if (!nonneg_ints(&c, 2, 3) || !need(&c, 0, N(2)) || !need(&c, 1, N(2))) return NULL;
  mc_bf16_to_f32_run((const uint16_t *)c.ptr[0], F(1), L(2));
  return NULL;
}

static napi_value js_attention_bwd(napi_env env, napi_callback_info info) {
  BEGIN("attentionBwd", "fffffffffnnnnnnnnn");  /* q k v out lse dout dq dk dv B T S Hq Hkv D qoff causal scale */
  double nq = 0, nkv = 0;
  if (!attn_dims(&c, 9, &nq, &nkv)) return NULL;
  double nl = N(9) * N(12) * N(10);
  if (!need(&c, 0, nq) || !need(&c, 1, nkv) || !need(&c, 2, nkv) || !need(&c, 3, nq) || !need(&c, 4, nl) || !need(&c, 5, nq) ||
      !need(&c, 6, nq) || !need(&c, 7, nkv) || !need(&c, 8, nkv)) return NULL;
  mc_attention_bwd(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), (int)L(9), (int)L(10), (int)L(11), (int)L(12), (int)L(13), (int)L(14), (int)L(15), N(16) != 0, (float)N(17));
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* ---- the failure policy's JS end (addon-errors.h) ---- */

static napi_ref memory_error_class; /* set by setErrorClasses; NULL until then */

bool mc_napi_alloc_check(napi_env env, const char *fn) {
  const char *kernel = NULL;
  const size_t bytes = mc_take_alloc_failure(&kernel);
  if (!bytes) return false;
  char msg[320];
  snprintf(msg, sizeof msg,
           "native kernel %s ran out of memory: %s could not allocate %.0f bytes. Free memory (a shorter context "
           "or smaller batch, fewer threads with MINICPM_THREADS) and retry",
           fn, kernel, (double)bytes);
  napi_value ctor = NULL, args[3], err;
  if (memory_error_class) napi_get_reference_value(env, memory_error_class, &ctor);
  if (ctor && napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[0]) == napi_ok &&
      napi_create_string_utf8(env, fn, NAPI_AUTO_LENGTH, &args[1]) == napi_ok &&
      napi_create_double(env, (double)bytes, &args[2]) == napi_ok && napi_new_instance(env, ctor, 3, args, &err) == napi_ok)
    napi_throw(env, err);
  else
    napi_throw_error(env, "ERR_MC_OUT_OF_MEMORY", msg);
  return true;
}

napi_value mc_napi_ran(napi_env env, const char *fn, int done) {
  napi_value r;
  if (mc_napi_alloc_check(env, fn) || napi_get_boolean(env, done != 0, &r) != napi_ok) return NULL;
  return r;
}

/* setErrorClasses({ memory }): memory is constructed as new memory(message, kernel, bytes). */
static napi_value js_set_error_classes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], memory;
  napi_valuetype type = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_named_property(env, argv[0], "memory", &memory) != napi_ok || napi_typeof(env, memory, &type) != napi_ok ||
      type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setErrorClasses: pass { memory: <an Error class> }");
    return NULL;
  }
  if (memory_error_class) napi_delete_reference(env, memory_error_class);
  napi_create_reference(env, memory, 1, &memory_error_class);
  return NULL;
}

/* testAllocLimit(bytes): from now on every kernel allocation of at least `bytes` fails (0: off). For tests. */
static napi_value js_test_alloc_limit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double bytes = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_double(env, argv[0], &bytes) != napi_ok || !(bytes >= 0)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "testAllocLimit: bytes must be a number >= 0");
    return NULL;
  }
  mc_test_alloc_limit(bytes > 1e18 ? (size_t)-1 : (size_t)bytes);
  return NULL;
}

napi_value mc_register_nn(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {
      {"rmsnormFwd", js_rmsnorm_fwd}, {"rmsnormBwd", js_rmsnorm_bwd}, {"softmaxFwd", js_softmax_fwd},
      {"softmaxBwd", js_softmax_bwd}, {"ceFwd", js_ce_fwd},           {"ceBwd", js_ce_bwd},
      {"swigluFwd", js_swiglu_fwd},   {"swigluBwd", js_swiglu_bwd},   {"rope", js_rope},
      {"adamw", js_adamw},            {"unary", js_unary},            {"unaryGrad", js_unary_grad},
      {"binary", js_binary},          {"affine", js_affine},          {"reduce", js_reduce},
      {"prefillResidual", js_prefill_residual},
      {"attentionFwd", js_attention_fwd}, {"attentionBwd", js_attention_bwd},
      {"attentionFwdBf16Kv", js_attention_fwd_bf16kv},
      {"f32ToBf16", js_f32_to_bf16},  {"bf16ToF32", js_bf16_to_f32},
      {"setErrorClasses", js_set_error_classes},
      {"testAllocLimit", js_test_alloc_limit},
  };
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
