/*
 * The last step of the kernels' allocation-failure policy (internal.h): after a kernel returns, its
 * binding calls mc_napi_alloc_check, which takes the failure record and throws it into JavaScript as
 * the error class the loader registered with setErrorClasses (KernelMemoryError in
 * src/backends/kernel-errors.ts), or as a plain Error with code ERR_MC_OUT_OF_MEMORY before that.
 */
#ifndef MC_ADDON_ERRORS_H
#define MC_ADDON_ERRORS_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <stdbool.h>

/* Throws and returns true when the last kernel call (named fn, the binding's JS name) ran out of memory. */
bool mc_napi_alloc_check(napi_env env, const char *fn);

/* A kernel call's answer for a binding that says whether it ran: JS `done`, or NULL after throwing the
 * out-of-memory error mc_napi_alloc_check raises. */
napi_value mc_napi_ran(napi_env env, const char *fn, int done);

#endif
