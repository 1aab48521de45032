/* Reading one quantized-matmul call's weights from JavaScript (addon-quant.c), shared by the qmatmul binding
 * and the decode layer's plan (addon-qdecode.c). */
#ifndef MC_ADDON_QRUN_H
#define MC_ADDON_QRUN_H

#include <node_api.h>
#include <stdbool.h>

#include "addon-args.h"
#include "qmatmul.h"

/* bits (2, 4 or 8), perm (null or an Int32Array of K entries in [0, K)) and the arrays codes[], scales[],
 * zeros[] (Uint8Array, Uint16Array, Uint8Array) and ns[] of one to MC_QMAX_WEIGHTS weights over K inputs:
 * every array's type and size is checked against its rows, so the kernels stay inside them. sym (NULL or
 * undefined for none): the mask of symmetric weights, bit i for weight i (mc_qmatmul). */
bool mc_arg_qrun(mc_argctx *c, double K, napi_value bits, napi_value perm, napi_value codes, napi_value scales,
                 napi_value zeros, napi_value ns, napi_value sym, mc_qrun *out);

#endif
