/*
 * A decoder layer's residual step over a prefill's rows, fused: out = x + s·y and, when g is given,
 * norm = RMSNorm(out)·g (rows of D). The unfused sequence (mulScalar, add, rmsNorm) makes three passes
 * over [T, D] activations and writes s·y only to read it back; here each task walks its rows a few at a
 * time, so s·y and out are still in L1/L2 when the next step reads them. Every element is computed by the
 * same per-ISA loop bodies (nn-impl.h) the unfused ops run, so the results are equal bit for bit:
 * s·y as affine(y, s, 0) (skipped when s = 1), the sum as binary ADD, the norm as rmsnorm_fwd row by row.
 * x, y, out, norm are [rows, D]; out may be y itself but must not overlap x; norm may be NULL when g is.
 */
#ifndef MC_PREFILL_RESIDUAL_H
#define MC_PREFILL_RESIDUAL_H

void mc_prefill_residual(const float *x, const float *y, float s, float *out, const float *g, float *norm, long rows,
                         int D, float eps);

#endif
