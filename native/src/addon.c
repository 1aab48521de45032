/*
 * N-API wrapper over the flat C ABI (plain C, node_api.h only). Every argument is checked here:
 * wrong types throw TypeError, an operand window that does not fit its typed array throws
 * RangeError, so the kernels can never read or write out of bounds. Nothing is allocated per call.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "mc.h"

#define MAX_SAFE 9007199254740991.0 /* 2^53 - 1 */
#define MAX_DIM 2147483647.0

typedef struct {
  napi_env env;
  const char *fn;
} ctx_t;

static void *throw_type(ctx_t *c, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", c->fn, what);
  napi_throw_type_error(c->env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static bool get_bool(ctx_t *c, napi_value v, const char *name, bool *out) {
  if (napi_get_value_bool(c->env, v, out) == napi_ok) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a boolean", name);
  throw_type(c, msg);
  return false;
}

static bool get_number(ctx_t *c, napi_value v, const char *name, double *out) {
  if (napi_get_value_double(c->env, v, out) == napi_ok) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a number", name);
  throw_type(c, msg);
  return false;
}

/* A non-negative integer no larger than max. */
static bool get_int(ctx_t *c, napi_value v, const char *name, double max, double *out) {
  if (!get_number(c, v, name, out)) return false;
  double x = *out;
  if (x >= 0 && x <= max && x == (double)(long long)x) return true;
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s must be an integer in [0, %.0f], got %g", c->fn, name, max, x);
  napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
  return false;
}

static bool get_array(ctx_t *c, napi_value v, const char *name, napi_typedarray_type want,
                      void **data, double *length) {
  bool is = false;
  napi_typedarray_type type;
  size_t len;
  if (napi_is_typedarray(c->env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(c->env, v, &type, &len, data, NULL, NULL) != napi_ok || type != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a %s", name,
             want == napi_float32_array ? "Float32Array" : "Uint16Array");
    throw_type(c, msg);
    return false;
  }
  *length = (double)len;
  return true;
}

/* The window [off, off + (batch-1)*stride + (rows-1)*ld + cols) must lie inside the array and
 * ld must cover a row. All in doubles: exact for every value that passed get_int. */
static bool check_window(ctx_t *c, const char *name, double length, double off, double ld,
                         double rows, double cols, double batch, double stride) {
  char msg[320];
  if (rows > 1 && ld < cols) {
    snprintf(msg, sizeof msg, "%s: ld%c = %.0f is smaller than the row length %.0f of %s", c->fn,
             name[0] + 32, ld, cols, name);
    napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  if (rows == 0 || cols == 0 || batch == 0) return true;
  double last = off + (batch - 1) * stride + (rows - 1) * ld + cols - 1;
  if (last < length) return true;
  snprintf(msg, sizeof msg,
           "%s: %s is too small: a %.0fx%.0f window at offset %.0f with ld %.0f%s needs %.0f elements, "
           "the array has %.0f",
           c->fn, name, rows, cols, off, ld, batch > 1 ? " over the batch" : "", last + 1, length);
  napi_throw_range_error(c->env, "ERR_OUT_OF_RANGE", msg);
  return false;
}

static bool get_args(ctx_t *c, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(c->env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, argc);
    throw_type(c, msg);
    return false;
  }
  return true;
}

/* Reads (X, off, ld[, stride]) of one float operand. */
typedef struct {
  void *data;
  double len, off, ld, stride;
} operand_t;

static bool get_operand(ctx_t *c, napi_value *v, const char *name, napi_typedarray_type type,
                        bool strided, operand_t *o) {
  char n[32];
  o->stride = 0;
  if (!get_array(c, v[0], name, type, &o->data, &o->len)) return false;
  snprintf(n, sizeof n, "%sOff", name[0] == 'W' ? "w" : name[0] == 'A' ? "a" : name[0] == 'B' ? "b" : "c");
  if (!get_int(c, v[1], n, MAX_SAFE, &o->off)) return false;
  snprintf(n, sizeof n, "ld%c", name[0] + 32);
  if (!get_int(c, v[2], n, MAX_DIM, &o->ld)) return false;
  if (strided) {
    snprintf(n, sizeof n, "stride%s", name);
    if (!get_int(c, v[3], n, MAX_SAFE, &o->stride)) return false;
  }
  return true;
}

/* Shared by sgemm (batched = false) and sgemmBatched. */
static napi_value gemm_common(napi_env env, napi_callback_info info, bool batched) {
  ctx_t c = {env, batched ? "sgemmBatched" : "sgemm"};
  napi_value argv[20];
  if (!get_args(&c, info, batched ? 20 : 16, argv)) return NULL;
  napi_value *a = argv;
  double batch = 1, M, N, K, alpha, beta;
  bool tA, tB;
  if (batched && !get_int(&c, *a++, "batch", MAX_DIM, &batch)) return NULL;
  if (!get_bool(&c, a[0], "transA", &tA) || !get_bool(&c, a[1], "transB", &tB)) return NULL;
  if (!get_int(&c, a[2], "M", MAX_DIM, &M) || !get_int(&c, a[3], "N", MAX_DIM, &N) ||
      !get_int(&c, a[4], "K", MAX_DIM, &K) || !get_number(&c, a[5], "alpha", &alpha))
    return NULL;
  a += 6;
  operand_t A, B, C;
  if (!get_operand(&c, a, "A", napi_float32_array, batched, &A)) return NULL;
  a += batched ? 4 : 3;
  if (!get_operand(&c, a, "B", napi_float32_array, batched, &B)) return NULL;
  a += batched ? 4 : 3;
  if (!get_number(&c, a[0], "beta", &beta)) return NULL;
  a += 1;
  if (!get_operand(&c, a, "C", napi_float32_array, batched, &C)) return NULL;

  if (!check_window(&c, "A", A.len, A.off, A.ld, tA ? K : M, tA ? M : K, M && N ? batch : 0, A.stride) ||
      !check_window(&c, "B", B.len, B.off, B.ld, tB ? N : K, tB ? K : N, M && N ? batch : 0, B.stride) ||
      !check_window(&c, "C", C.len, C.off, C.ld, M, N, batch, C.stride))
    return NULL;

  const float *pa = (const float *)A.data + (size_t)A.off, *pb = (const float *)B.data + (size_t)B.off;
  float *pc = (float *)C.data + (size_t)C.off;
  if (batched)
    mc_sgemm_batched((int)batch, tA, tB, (int)M, (int)N, (int)K, (float)alpha, pa, (long)A.ld,
                     (long)A.stride, pb, (long)B.ld, (long)B.stride, (float)beta, pc, (long)C.ld,
                     (long)C.stride);
  else
    mc_sgemm(tA, tB, (int)M, (int)N, (int)K, (float)alpha, pa, (long)A.ld, pb, (long)B.ld, (float)beta,
             pc, (long)C.ld);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

static napi_value js_sgemm(napi_env env, napi_callback_info info) { return gemm_common(env, info, false); }
static napi_value js_sgemm_batched(napi_env env, napi_callback_info info) {
  return gemm_common(env, info, true);
}

/* gemmBf16(M, N, K, alpha, A, aOff, lda, W, wOff, ldw, beta, C, cOff, ldc) */
static napi_value js_gemm_bf16(napi_env env, napi_callback_info info) {
  ctx_t c = {env, "gemmBf16"};
  napi_value a[14];
  double M, N, K, alpha, beta;
  operand_t A, W, C;
  if (!get_args(&c, info, 14, a)) return NULL;
  if (!get_int(&c, a[0], "M", MAX_DIM, &M) || !get_int(&c, a[1], "N", MAX_DIM, &N) ||
      !get_int(&c, a[2], "K", MAX_DIM, &K) || !get_number(&c, a[3], "alpha", &alpha) ||
      !get_operand(&c, a + 4, "A", napi_float32_array, false, &A) ||
      !get_operand(&c, a + 7, "W", napi_uint16_array, false, &W) ||
      !get_number(&c, a[10], "beta", &beta) ||
      !get_operand(&c, a + 11, "C", napi_float32_array, false, &C))
    return NULL;
  if (!check_window(&c, "A", A.len, A.off, A.ld, M, K, M && N ? 1 : 0, 0) ||
      !check_window(&c, "W", W.len, W.off, W.ld, N, K, M && N ? 1 : 0, 0) ||
      !check_window(&c, "C", C.len, C.off, C.ld, M, N, 1, 0))
    return NULL;
  mc_gemm_bf16((int)M, (int)N, (int)K, (float)alpha, (const float *)A.data + (size_t)A.off, (long)A.ld,
               (const uint16_t *)W.data + (size_t)W.off, (long)W.ld, (float)beta,
               (float *)C.data + (size_t)C.off, (long)C.ld);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* Element i of a JS array, or throws. */
static bool get_element(ctx_t *c, napi_value arr, uint32_t i, const char *name, napi_value *out) {
  if (napi_get_element(c->env, arr, i, out) == napi_ok) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s[%u] cannot be read", name, i);
  throw_type(c, msg);
  return false;
}

/* gemvMany(x, xOff, K, ws, wOffs, ns, y, yOff): ws all Float32Array or all Uint16Array, each holding
 * ns[i] contiguous rows of K from wOffs[i]; y[yOff ..] receives the outputs one after another. */
static napi_value js_gemv_many(napi_env env, napi_callback_info info) {
  ctx_t c = {env, "gemvMany"};
  napi_value a[8];
  double xOff, K, yOff, xLen, yLen;
  void *xd, *yd;
  if (!get_args(&c, info, 8, a)) return NULL;
  if (!get_array(&c, a[0], "x", napi_float32_array, &xd, &xLen) || !get_int(&c, a[1], "xOff", MAX_SAFE, &xOff) ||
      !get_int(&c, a[2], "K", MAX_DIM, &K) || !get_array(&c, a[6], "y", napi_float32_array, &yd, &yLen) ||
      !get_int(&c, a[7], "yOff", MAX_SAFE, &yOff))
    return NULL;
  uint32_t count = 0, cw = 0, cn = 0;
  bool isArr[3] = {false, false, false};
  for (int i = 0; i < 3; i++) napi_is_array(env, a[3 + i], &isArr[i]);
  if (!isArr[0] || !isArr[1] || !isArr[2]) return throw_type(&c, "ws, wOffs and ns must be arrays");
  napi_get_array_length(env, a[3], &count);
  napi_get_array_length(env, a[4], &cw);
  napi_get_array_length(env, a[5], &cn);
  if (count < 1 || count > MC_GEMV_MANY_MAX || cw != count || cn != count) {
    char msg[160];
    snprintf(msg, sizeof msg, "gemvMany: ws, wOffs and ns need the same length in [1, %d]", MC_GEMV_MANY_MAX);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  const void *W[MC_GEMV_MANY_MAX];
  int n[MC_GEMV_MANY_MAX];
  double total = 0;
  napi_typedarray_type type0 = napi_float32_array;
  for (uint32_t i = 0; i < count; i++) {
    napi_value w, wo, nv;
    double wOff, ni, wLen;
    void *wd;
    bool is = false;
    napi_typedarray_type type;
    size_t len;
    if (!get_element(&c, a[3], i, "ws", &w) || !get_element(&c, a[4], i, "wOffs", &wo) ||
        !get_element(&c, a[5], i, "ns", &nv))
      return NULL;
    if (napi_is_typedarray(env, w, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, w, &type, &len, &wd, NULL, NULL) != napi_ok ||
        (type != napi_float32_array && type != napi_uint16_array) || (i > 0 && type != type0))
      return throw_type(&c, "ws must all be Float32Array or all Uint16Array");
    type0 = type;
    wLen = (double)len;
    if (!get_int(&c, wo, "wOffs[i]", MAX_SAFE, &wOff) || !get_int(&c, nv, "ns[i]", MAX_DIM, &ni) ||
        !check_window(&c, "W", wLen, wOff, K, ni, K, K ? 1 : 0, 0))
      return NULL;
    W[i] = (const char *)wd + (size_t)wOff * (type == napi_float32_array ? 4 : 2);
    n[i] = (int)ni;
    total += ni;
  }
  if (total > MAX_DIM) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "gemvMany: too many rows");
    return NULL;
  }
  if (!check_window(&c, "x", xLen, xOff, K, 1, K, total ? 1 : 0, 0) ||
      !check_window(&c, "y", yLen, yOff, total, 1, total, 1, 0))
    return NULL;
  mc_gemv_many((int)count, (int)K, (const float *)xd + (size_t)xOff, W, n, type0 == napi_float32_array ? 4 : 2,
               (float *)yd + (size_t)yOff);
  mc_napi_alloc_check(env, c.fn);
  return NULL;
}

/* alignOffset(arrayBuffer): bytes from its start to the first 64-byte boundary (and, for 4 MiB and more,
 * huge pages requested for it). V8 never moves an
 * ArrayBuffer's backing store, so a view at that offset stays aligned; unlike alignedBuffer's external
 * memory, V8 frees such a buffer inside the GC, not in a finalizer deferred to a later event-loop turn. */
static napi_value js_align_offset(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "alignOffset"};
  napi_value a[1], r;
  void *data = NULL;
  size_t len = 0;
  if (!mc_arg_count(&c, info, 1, a) || !mc_arg_arraybuffer(&c, a[0], "buffer", &data, &len)) return NULL;
  napi_create_uint32(env, (uint32_t)((64 - ((uintptr_t)data & 63)) & 63), &r);
  /* large buffers (weights, activations) on transparent huge pages, as mc_alloc's mappings were:
   * measured 6% faster bf16 decode; asked before the first write, so the first touch gets them */
  if (len >= ((size_t)4 << 20)) mc_advise_huge(data, len);
  return r;
}

static const char *isa_name(mc_isa isa) {
  return isa == MC_ISA_AVX512 ? "avx512" : isa == MC_ISA_AVX2 ? "avx2" : "scalar";
}

static napi_value js_features(napi_env env, napi_callback_info info) {
  (void)info;
  mc_features_t f = mc_features();
  napi_value o, isa, bf16, vnni;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, isa_name(f.isa), NAPI_AUTO_LENGTH, &isa);
  napi_get_boolean(env, f.bf16 != 0, &bf16);
  napi_get_boolean(env, f.vnni != 0, &vnni);
  napi_set_named_property(env, o, "isa", isa);
  napi_set_named_property(env, o, "bf16", bf16);
  napi_set_named_property(env, o, "vnni", vnni);
  return o;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  ctx_t c = {env, "setThreads"};
  napi_value a[1];
  double n;
  if (!get_args(&c, info, 1, a) || !get_int(&c, a[0], "n", 64, &n)) return NULL;
  if (n < 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "setThreads: n must be in [1, 64]");
    return NULL;
  }
  mc_set_threads((int)n);
  return NULL;
}

static napi_value js_get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, mc_get_threads(), &r);
  return r;
}

/* setIsa('avx512' | 'avx2' | 'scalar'): for tests and benchmarks; false when the CPU lacks it. */
static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  ctx_t c = {env, "setIsa"};
  napi_value a[1], r;
  char s[16] = {0};
  size_t len;
  if (!get_args(&c, info, 1, a)) return NULL;
  if (napi_get_value_string_utf8(env, a[0], s, sizeof s, &len) != napi_ok)
    return throw_type(&c, "isa must be a string");
  int ok = !strcmp(s, "avx512") ? mc_set_isa(MC_ISA_AVX512)
           : !strcmp(s, "avx2") ? mc_set_isa(MC_ISA_AVX2)
           : !strcmp(s, "scalar") ? mc_set_isa(MC_ISA_SCALAR) : 0;
  napi_get_boolean(env, ok != 0, &r);
  return r;
}

static void free_aligned(napi_env env, void *data, void *hint) {
  int64_t ignored;
  mc_free(data, (size_t)hint);
  napi_adjust_external_memory(env, -(int64_t)(size_t)hint, &ignored);
}

/* alignedBuffer(bytes): a zero-filled ArrayBuffer over 64-byte aligned memory, freed by the GC. */
static napi_value js_aligned_buffer(napi_env env, napi_callback_info info) {
  ctx_t c = {env, "alignedBuffer"};
  napi_value a[1], r;
  double bytes;
  if (!get_args(&c, info, 1, a) || !get_int(&c, a[0], "bytes", MAX_SAFE, &bytes)) return NULL;
  size_t sz = (size_t)bytes;
  void *p = mc_alloc(sz);
  if (!p) {
    napi_throw_range_error(env, "ERR_MEMORY_ALLOCATION_FAILED", "alignedBuffer: out of memory");
    return NULL;
  }
  if (napi_create_external_arraybuffer(env, p, (size_t)bytes, free_aligned, (void *)sz, &r) != napi_ok) {
    mc_free(p, sz);
    napi_throw_error(env, NULL, "alignedBuffer: cannot create an external ArrayBuffer");
    return NULL;
  }
  int64_t ignored;
  /* tell V8 about the memory so that GC pressure reflects it */
  napi_adjust_external_memory(env, (int64_t)sz, &ignored);
  return r;
}

/* Other kernel families register their functions here when they are linked in (weak: optional). */
extern napi_value mc_register_nn(napi_env env, napi_value exports) __attribute__((weak));

/* The NN kernels' wrappers live in addon-nn.c. */
napi_value mc_register_nn(napi_env env, napi_value exports);
/* The quantized matmul's wrappers live in addon-quant.c. */
napi_value mc_register_quant(napi_env env, napi_value exports);
/* The int8 KV cache's wrappers live in addon-kv8.c. */
napi_value mc_register_kv8(napi_env env, napi_value exports);
/* The row-exact multi-row GEMV's wrapper lives in addon-gemv-rows.c. */
napi_value mc_register_gemv_rows(napi_env env, napi_value exports);
/* Top-p's linear passes: addon-nucleus.c. */
napi_value mc_register_nucleus(napi_env env, napi_value exports);
/* The quantized-matrix repackers' wrappers live in addon-qrepack.c. */
napi_value mc_register_qrepack(napi_env env, napi_value exports);
/* Decode-side kernels (greedy argmax): addon-decode.c. */
napi_value mc_register_decode(napi_env env, napi_value exports);
/* The quantized decode layer's wrappers live in addon-qdecode.c. */
napi_value mc_register_qdecode(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  mc_init();
  if (!mc_register_nn(env, exports)) return NULL;
  static const mc_binding fns[] = {
      {"sgemm", js_sgemm},         {"sgemmBatched", js_sgemm_batched}, {"gemmBf16", js_gemm_bf16},
      {"features", js_features},   {"setThreads", js_set_threads},     {"getThreads", js_get_threads},
      {"setIsa", js_set_isa},      {"alignedBuffer", js_aligned_buffer}, {"gemvMany", js_gemv_many},
      {"alignOffset", js_align_offset},
  };
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  if (mc_register_nn && !mc_register_nn(env, exports)) return NULL;
  if (!mc_register_quant(env, exports)) return NULL;
  if (!mc_register_kv8(env, exports)) return NULL;
  if (!mc_register_gemv_rows(env, exports)) return NULL;
  if (!mc_register_nucleus(env, exports)) return NULL;
  if (!mc_register_qrepack(env, exports)) return NULL;
  if (!mc_register_decode(env, exports)) return NULL;
  if (!mc_register_qdecode(env, exports)) return NULL;
  return exports;
}
