/*
 * N-API wrappers of the quantized decode layer (qdecode-layer.h):
 *   qdecodeLayerPlan(qkv, o, gateUp, down, postGain, postGainOff, d, ff, Hq, Hkv, D, eps, residual,
 *       attnScale) → plan
 *                 each run is [bits, perm, codes[], scales[], zeros[], ns[]] as qmatmul takes them (q/k/v
 *                 and gate/up fused, in that order); every array is checked once here against the sizes,
 *                 and the plan holds a reference to each, so what it points into stays alive and in place.
 *   qdecodeLayer(plan, x, xOff, xn, xnOff, nextGain, ngOff, pos, kCache, kcOff, vCache, vcOff, cos, cosOff,
 *       sin, sinOff, sum, sumOff, norm, normOff, scratch, scratchOff) → boolean
 *                 one token through the layer (x, xn, nextGain, sum, norm Float32Array [d]; nextGain may be
 *                 null, then norm is left alone; the caches Uint16Array bf16 bits or Float32Array
 *                 [capacity, Hkv, D] with row pos written; scratch qdecodeLayerScratch(plan) floats); false
 *                 (nothing touched) where the fused attention step declines.
 *   qdecodeLayerScratch(plan) → number
 *   qdecodeLayers(plans[], x, xOff, xn, xnOff, nextGains[], pos, kCaches[], vCaches[], cos, cosOff, sin,
 *       sinOff, sum, sumOff, norm, normOff, scratch, scratchOff) → boolean
 *                 the layers in turn for one token (qdecode-layer.h mc_qdecode_layers): per layer its
 *                 next norm's gain (Float32Array [d] from index 0) and caches (from index 0); scratch
 *                 qdecodeLayersScratch(plans) floats. False (nothing touched) where attention declines.
 *   qdecodeLayersScratch(plans[]) → number
 *   qdecodeToken(plans[], x, xOff, firstGain, fgOff, nextGains[], pos, kCaches[], vCaches[], cos, cosOff, sin,
 *       sinOff, logitScale, head, logits, logitsOff, scratch, scratchOff) → boolean
 *                 the whole token from its scaled embedding x to logits (qdecode-layer.h mc_qdecode_token):
 *                 the first norm's gain, the layers as qdecodeLayers (the last gain the final norm's), the
 *                 logit scale and the head, a run as qdecodeLayerPlan takes them, read for this call only;
 *                 scratch qdecodeTokenScratch(plans) floats. False (nothing touched) where attention declines.
 *   qdecodeTokenScratch(plans[]) → number
 * Registered by addon.c through mc_register_qdecode().
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "addon-args.h"
#include "addon-errors.h"
#include "addon-qrun.h"
#include "internal.h"
#include "qdecode-layer.h"

typedef struct {
  mc_qlayer L;
  napi_ref keep; /* an array of every typed array the plan points into */
} plan_t;

static void plan_free(napi_env env, void *data, void *hint) {
  (void)hint;
  plan_t *p = data;
  if (p->keep) napi_delete_reference(env, p->keep);
  free(p);
}

/* Run array v = [bits, perm, codes[], scales[], zeros[], ns[], sym?] over K inputs into r (sym: the mask of
 * symmetric weights, mc_qmatmul); its typed arrays are appended to `keep` from *at on (unless keep is NULL:
 * a run used within the call only). */
static bool run_arg(mc_argctx *c, napi_value v, const char *name, double K, mc_qrun *r, napi_value keep,
                    uint32_t *at) {
  napi_env env = c->env;
  bool is = false;
  uint32_t len = 0;
  napi_value e[7] = {NULL};
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &len) != napi_ok ||
      (len != 6 && len != 7))
    return mc_arg_fail(c, false, "%s must be [bits, perm, codes[], scales[], zeros[], ns[], sym?]", name);
  for (uint32_t i = 0; i < len; i++)
    if (napi_get_element(env, v, i, &e[i]) != napi_ok) return mc_arg_fail(c, false, "%s cannot be read", name);
  if (!mc_arg_qrun(c, K, e[0], e[1], e[2], e[3], e[4], e[5], e[6], r)) return false;
  if (!keep) return true;
  napi_valuetype pt = napi_null;
  napi_typeof(env, e[1], &pt);
  if (pt != napi_null && pt != napi_undefined && napi_set_element(env, keep, (*at)++, e[1]) != napi_ok) return false;
  for (int a = 2; a <= 4; a++)
    for (int i = 0; i < r->count; i++) {
      napi_value t;
      if (napi_get_element(env, e[a], (uint32_t)i, &t) != napi_ok || napi_set_element(env, keep, (*at)++, t) != napi_ok)
        return mc_arg_fail(c, false, "%s cannot be read", name);
    }
  return true;
}

static napi_value js_qdecode_layer_plan(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeLayerPlan"};
  napi_value a[14];
  if (!mc_arg_count(&c, info, 14, a)) return NULL;
  double dim[5], eps, residual, scale;
  static const char *names[5] = {"d", "ff", "Hq", "Hkv", "D"};
  for (int i = 0; i < 5; i++)
    if (!mc_arg_uint(&c, a[6 + i], names[i], 1 << 20, &dim[i])) return NULL;
  if (!mc_arg_number(&c, a[11], "eps", &eps) || !mc_arg_number(&c, a[12], "residual", &residual) ||
      !mc_arg_number(&c, a[13], "attnScale", &scale))
    return NULL;
  plan_t *p = calloc(1, sizeof *p);
  if (!p) return mc_arg_fail(&c, false, "out of memory"), NULL;
  mc_qlayer *L = &p->L;
  L->d = (int)dim[0], L->ff = (int)dim[1], L->Hq = (int)dim[2], L->Hkv = (int)dim[3], L->D = (int)dim[4];
  L->eps = (float)eps, L->residual = (float)residual, L->attn_scale = (float)scale;
  napi_value keep, ext;
  uint32_t at = 0;
  void *gain;
  bool ok = napi_create_array(env, &keep) == napi_ok &&
            run_arg(&c, a[0], "qkv", dim[0], &L->qkv, keep, &at) &&
            run_arg(&c, a[1], "o", dim[2] * dim[4], &L->o, keep, &at) &&
            run_arg(&c, a[2], "gateUp", dim[0], &L->gate_up, keep, &at) &&
            run_arg(&c, a[3], "down", dim[1], &L->down, keep, &at) &&
            mc_arg_window(&c, a, 4, "postGain", napi_float32_array, "Float32Array", 4, dim[0], &gain) &&
            napi_set_element(env, keep, at++, a[4]) == napi_ok;
  if (ok && (L->post_gain = gain, !mc_qlayer_consistent(L)))
    ok = mc_arg_fail(&c, true,
                     "the runs do not make a layer of d %d, ff %d, %d heads and %d kv heads of %d (an even size): "
                     "q/k/v need 3 weights, gate/up 2",
                     L->d, L->ff, L->Hq, L->Hkv, L->D);
  if (ok && (napi_create_reference(env, keep, 1, &p->keep) != napi_ok ||
             napi_create_external(env, p, plan_free, NULL, &ext) != napi_ok)) {
    if (p->keep) napi_delete_reference(env, p->keep);
    ok = false;
  }
  if (!ok) {
    free(p);
    return NULL;
  }
  return ext;
}

static bool plan_arg(mc_argctx *c, napi_value v, plan_t **p) {
  napi_valuetype t = napi_undefined;
  if (napi_typeof(c->env, v, &t) != napi_ok || t != napi_external ||
      napi_get_value_external(c->env, v, (void **)p) != napi_ok || !*p)
    return mc_arg_fail(c, false, "plan must come from qdecodeLayerPlan");
  return true;
}

static napi_value js_qdecode_layer_scratch(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeLayerScratch"};
  napi_value a[1], r;
  plan_t *p;
  if (!mc_arg_count(&c, info, 1, a) || !plan_arg(&c, a[0], &p)) return NULL;
  napi_create_double(env, (double)mc_qdecode_layer_scratch(&p->L), &r);
  return r;
}

static bool overlap(const void *a, size_t an, const void *b, size_t bn) {
  return (const char *)a < (const char *)b + bn && (const char *)b < (const char *)a + an;
}

static napi_value js_qdecode_layer(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeLayer"};
  napi_value a[22];
  plan_t *p;
  double pos;
  if (!mc_arg_count(&c, info, 22, a) || !plan_arg(&c, a[0], &p) ||
      !mc_arg_uint(&c, a[7], "pos", MC_ARG_MAX_DIM - 1, &pos))
    return NULL;
  const mc_qlayer *L = &p->L;
  const double d = L->d, kv = (double)L->Hkv * L->D, nscratch = (double)mc_qdecode_layer_scratch(L);
  mc_cache_type ct;
  if (!mc_arg_cache_type(&c, a[8], "kCache", &ct)) return NULL;
  napi_valuetype gt = napi_null;
  napi_typeof(env, a[5], &gt);
  const bool gain = gt != napi_null && gt != napi_undefined;
  void *x, *xn, *ng = NULL, *kc, *vc, *cs, *sn, *sum, *norm, *w;
  if (!mc_arg_window(&c, a, 1, "x", napi_float32_array, "Float32Array", 4, d, &x) ||
      !mc_arg_window(&c, a, 3, "xn", napi_float32_array, "Float32Array", 4, d, &xn) ||
      (gain && !mc_arg_window(&c, a, 5, "nextGain", napi_float32_array, "Float32Array", 4, d, &ng)) ||
      !mc_arg_window(&c, a, 8, "kCache", ct.type, ct.tname, ct.esize, (pos + 1) * kv, &kc) ||
      !mc_arg_window(&c, a, 10, "vCache", ct.type, ct.tname, ct.esize, (pos + 1) * kv, &vc) ||
      !mc_arg_window(&c, a, 12, "cos", napi_float32_array, "Float32Array", 4, (pos + 1) * L->D / 2, &cs) ||
      !mc_arg_window(&c, a, 14, "sin", napi_float32_array, "Float32Array", 4, (pos + 1) * L->D / 2, &sn) ||
      !mc_arg_window(&c, a, 16, "sum", napi_float32_array, "Float32Array", 4, d, &sum) ||
      !mc_arg_window(&c, a, 18, "norm", napi_float32_array, "Float32Array", 4, d, &norm) ||
      !mc_arg_window(&c, a, 20, "scratch", napi_float32_array, "Float32Array", 4, nscratch, &w))
    return NULL;
  const size_t vb = (size_t)d * 4, wb = (size_t)nscratch * 4;
  const void *in[3] = {x, xn, w};
  const size_t inb[3] = {vb, vb, wb};
  for (int i = 0; i < 3; i++)
    if (overlap(sum, vb, in[i], inb[i]) || (gain && overlap(norm, vb, in[i], inb[i])))
      return mc_arg_fail(&c, true, "sum and norm must not overlap x, xn or scratch"), NULL;
  const int done = mc_qdecode_layer(L, x, xn, ng, (int)pos, kc, vc, ct.bf16, cs, sn, sum, norm, w);
  return mc_napi_ran(env, c.fn, done);
}

/* The most layers one qdecodeLayers call takes (MiniCPM-2B has 40). */
#define MAX_LAYERS 512

/* plans[]: 1..MAX_LAYERS plans of one width; *n their count. */
static bool plans_arg(mc_argctx *c, napi_value v, const mc_qlayer **L, int *n) {
  bool is = false;
  uint32_t len = 0;
  if (napi_is_array(c->env, v, &is) != napi_ok || !is || napi_get_array_length(c->env, v, &len) != napi_ok ||
      len < 1 || len > MAX_LAYERS)
    return mc_arg_fail(c, false, "plans must be an array of 1 to %d plans", MAX_LAYERS);
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    plan_t *p;
    if (napi_get_element(c->env, v, i, &e) != napi_ok || !plan_arg(c, e, &p)) return false;
    L[i] = &p->L;
    if (L[i]->d != L[0]->d) return mc_arg_fail(c, true, "plan %u has d %d, plan 0 %d", i, L[i]->d, L[0]->d);
  }
  *n = (int)len;
  return true;
}

/* arrays[i] for i < n: a typed array of `type` holding `need` elements from index 0. */
static bool list_arg(mc_argctx *c, napi_value v, const char *name, int n, napi_typedarray_type type,
                     const char *tname, double need, void **out) {
  bool is = false;
  uint32_t len = 0;
  if (napi_is_array(c->env, v, &is) != napi_ok || !is || napi_get_array_length(c->env, v, &len) != napi_ok ||
      len != (uint32_t)n)
    return mc_arg_fail(c, false, "%s must be an array of %d %ss, one per plan", name, n, tname);
  for (int i = 0; i < n; i++) {
    napi_value e;
    double have = 0;
    if (napi_get_element(c->env, v, (uint32_t)i, &e) != napi_ok ||
        !mc_arg_typed(c, e, name, type, tname, &out[i], &have))
      return false;
    if (have < need) return mc_arg_fail(c, true, "%s[%d] holds %.0f elements, needs %.0f", name, i, have, need);
  }
  return true;
}

static napi_value js_qdecode_layers_scratch(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeLayersScratch"};
  napi_value a[1], r;
  const mc_qlayer *L[MAX_LAYERS];
  int n = 0;
  if (!mc_arg_count(&c, info, 1, a) || !plans_arg(&c, a[0], L, &n)) return NULL;
  napi_create_double(env, (double)mc_qdecode_layers_scratch(L, n), &r);
  return r;
}

/* What qdecodeLayers and qdecodeToken both take: the plans, per layer the next norm's gain and the caches,
 * the position and the RoPE tables, read from their argument indices. */
typedef struct {
  const mc_qlayer *L[MAX_LAYERS];
  void *gains[MAX_LAYERS], *kc[MAX_LAYERS], *vc[MAX_LAYERS];
  int n;
  double pos;
  mc_cache_type ct;
  void *cos, *sin;
} stack_args;

static bool stack_arg(mc_argctx *c, napi_value *a, int plans, int gains, int pos, int caches, int rope,
                      stack_args *S) {
  if (!plans_arg(c, a[plans], S->L, &S->n) || !mc_arg_uint(c, a[pos], "pos", MC_ARG_MAX_DIM - 1, &S->pos))
    return false;
  const int n = S->n;
  const double d = S->L[0]->d;
  double kv = 0, half = 0;
  for (int i = 0; i < n; i++) kv = MC_MAX(kv, (double)S->L[i]->Hkv * S->L[i]->D), half = MC_MAX(half, S->L[i]->D / 2.0);
  /* the caches' element type picks the kernel: Uint16Array bf16 bits or Float32Array */
  napi_value k0;
  if (napi_get_element(c->env, a[caches], 0, &k0) != napi_ok || !mc_arg_cache_type(c, k0, "kCaches[0]", &S->ct))
    return false;
  const mc_cache_type *ct = &S->ct;
  return list_arg(c, a[gains], "nextGains", n, napi_float32_array, "Float32Array", d, S->gains) &&
         list_arg(c, a[caches], "kCaches", n, ct->type, ct->tname, (S->pos + 1) * kv, S->kc) &&
         list_arg(c, a[caches + 1], "vCaches", n, ct->type, ct->tname, (S->pos + 1) * kv, S->vc) &&
         mc_arg_window(c, a, rope, "cos", napi_float32_array, "Float32Array", 4, (S->pos + 1) * half, &S->cos) &&
         mc_arg_window(c, a, rope + 2, "sin", napi_float32_array, "Float32Array", 4, (S->pos + 1) * half, &S->sin);
}

static napi_value js_qdecode_layers(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeLayers"};
  napi_value a[19];
  stack_args S;
  if (!mc_arg_count(&c, info, 19, a) || !stack_arg(&c, a, 0, 5, 6, 7, 9, &S)) return NULL;
  const double d = S.L[0]->d, nscratch = (double)mc_qdecode_layers_scratch(S.L, S.n);
  void *x, *xn, *sum, *norm, *w;
  if (!mc_arg_window(&c, a, 1, "x", napi_float32_array, "Float32Array", 4, d, &x) ||
      !mc_arg_window(&c, a, 3, "xn", napi_float32_array, "Float32Array", 4, d, &xn) ||
      !mc_arg_window(&c, a, 13, "sum", napi_float32_array, "Float32Array", 4, d, &sum) ||
      !mc_arg_window(&c, a, 15, "norm", napi_float32_array, "Float32Array", 4, d, &norm) ||
      !mc_arg_window(&c, a, 17, "scratch", napi_float32_array, "Float32Array", 4, nscratch, &w))
    return NULL;
  const size_t vb = (size_t)d * 4, wb = (size_t)nscratch * 4;
  const void *in[3] = {x, xn, w};
  const size_t inb[3] = {vb, vb, wb};
  for (int i = 0; i < 3; i++)
    if (overlap(sum, vb, in[i], inb[i]) || overlap(norm, vb, in[i], inb[i]))
      return mc_arg_fail(&c, true, "sum and norm must not overlap x, xn or scratch"), NULL;
  const int done = mc_qdecode_layers(S.L, S.n, x, xn, (const float *const *)S.gains, (int)S.pos, S.kc, S.vc,
                                     S.ct.bf16, S.cos, S.sin, sum, norm, w);
  return mc_napi_ran(env, c.fn, done);
}

static napi_value js_qdecode_token_scratch(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeTokenScratch"};
  napi_value a[1], r;
  const mc_qlayer *L[MAX_LAYERS];
  int n = 0;
  if (!mc_arg_count(&c, info, 1, a) || !plans_arg(&c, a[0], L, &n)) return NULL;
  napi_create_double(env, (double)mc_qdecode_token_scratch(L, n), &r);
  return r;
}

static napi_value js_qdecode_token(napi_env env, napi_callback_info info) {
  mc_argctx c = {env, "qdecodeToken"};
  napi_value a[19];
  stack_args S;
  if (!mc_arg_count(&c, info, 19, a) || !stack_arg(&c, a, 0, 5, 6, 7, 9, &S)) return NULL;
  const double d = S.L[0]->d, nscratch = (double)mc_qdecode_token_scratch(S.L, S.n);
  double scale;
  mc_qrun head;
  if (!mc_arg_number(&c, a[13], "logitScale", &scale) || !run_arg(&c, a[14], "head", d, &head, NULL, NULL))
    return NULL;
  void *x, *gain, *logits, *w;
  if (!mc_arg_window(&c, a, 1, "x", napi_float32_array, "Float32Array", 4, d, &x) ||
      !mc_arg_window(&c, a, 3, "firstGain", napi_float32_array, "Float32Array", 4, d, &gain) ||
      !mc_arg_window(&c, a, 15, "logits", napi_float32_array, "Float32Array", 4, head.total, &logits) ||
      !mc_arg_window(&c, a, 17, "scratch", napi_float32_array, "Float32Array", 4, nscratch, &w))
    return NULL;
  const size_t xb = (size_t)d * 4, lb = (size_t)head.total * 4, wb = (size_t)nscratch * 4;
  if (overlap(logits, lb, x, xb) || overlap(logits, lb, w, wb) || overlap(x, xb, w, wb))
    return mc_arg_fail(&c, true, "logits, x and scratch must not overlap"), NULL;
  const int done = mc_qdecode_token(S.L, S.n, x, gain, (const float *const *)S.gains, (int)S.pos, S.kc, S.vc,
                                    S.ct.bf16, S.cos, S.sin, (float)scale, &head, logits, w);
  return mc_napi_ran(env, c.fn, done);
}

napi_value mc_register_qdecode(napi_env env, napi_value exports) {
  static const mc_binding fns[] = {{"qdecodeLayerPlan", js_qdecode_layer_plan},
                                   {"qdecodeLayerScratch", js_qdecode_layer_scratch},
                                   {"qdecodeLayer", js_qdecode_layer},
                                   {"qdecodeLayersScratch", js_qdecode_layers_scratch},
                                   {"qdecodeLayers", js_qdecode_layers},
                                   {"qdecodeTokenScratch", js_qdecode_token_scratch},
                                   {"qdecodeToken", js_qdecode_token}};
  if (!mc_export_bindings(env, exports, fns, sizeof fns / sizeof fns[0])) return NULL;
  return exports;
}
