/*
 * The attention phase of a one-token decode step (decode-step.h) in one addon call instead of seven
 * (rope q, rope k, two casts, two cache writes, attention), each of which made an output tensor,
 * checked its arguments and handed a few thousand floats to the pool. The small parts run on the
 * calling thread; only the attention splits over the pool.
 * Exactness: the parts are the bodies the separate ops run (the active mc_nn_impl table's rope rows,
 * convert-bf16.c's rounding, the attention kernel the op picks), so the fused step equals the unfused
 * one bit for bit, and the batched server's rows (which run the separate ops) still equal a sequence
 * decoded alone.
 */
#include "decode-step.h"

#include <string.h>

#include "convert-bf16.h"
#include "decode-attention.h"
#include "nn-internal.h"

int mc_decode_step_applies(int pos, int bf16, int Hq, int Hkv, int D) {
  if (pos < 0 || Hkv < 1 || Hq % Hkv) return 0;
  return !bf16 || mc_decode_attention_bf16_applies(1, pos + 1, Hq, Hkv, D);
}

int mc_decode_rope_append_attend(const float *q, float *k, const float *v, const float *cos, const float *sin, int pos,
                                 void *kc, void *vc, int bf16, float *qr, float *out, float *lse, int Hq, int Hkv,
                                 int D, float scale) {
  if (!mc_decode_step_applies(pos, bf16, Hq, Hkv, D)) return 0;
  const mc_nn_impl *nn = mc_nn_active();
  /* the rope op's row body for the one row (b, t) = (0, 0) at position pos (T = 1); in place is safe,
   * each pair (i, i + D/2) is read before it is written */
  nn->rope(q, cos, sin, qr, 0, 1, 1, Hq, D, pos, 0, 0);
  nn->rope(k, cos, sin, k, 0, 1, 1, Hkv, D, pos, 0, 0);
  const long row = (long)Hkv * D;
  if (bf16) {
    uint16_t *kb = kc, *vb = vc;
    mc_f32_to_bf16_run(k, kb + (long)pos * row, row);
    mc_f32_to_bf16_run(v, vb + (long)pos * row, row);
    return mc_decode_attention_bf16(qr, kb, vb, out, lse, 1, pos + 1, Hq, Hkv, D, scale);
  }
  float *kf = kc, *vf = vc;
  memcpy(kf + (long)pos * row, k, sizeof(float) * (size_t)row);
  memcpy(vf + (long)pos * row, v, sizeof(float) * (size_t)row);
  /* what the attention op runs for one causal query row at position pos over f32 keys */
  mc_attention_fwd(qr, kf, vf, out, lse, 1, 1, pos + 1, Hq, Hkv, D, pos, 1, scale);
  return 1;
}
