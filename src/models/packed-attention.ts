/**
 * Attention over independent sequences packed along T of one [1, N, d] batch (continuous batching:
 * every linear layer reads its weights once for all of them). The model hands over each layer's
 * q/k/v before RoPE; the owner of the packing knows each sequence's rows, first position and KV cache,
 * applies `rope` per sequence and returns the attention output rows in the same order.
 */
import type { Tensor } from '../tensor/index.js';

export interface PackedAttention {
  /** One past the largest position any packed row has (sizes the RoPE tables). */
  readonly positions: number;
  /**
   * q [1, N, Hq, D], k/v [1, N, Hkv, D] → attention output [1, N, Hq, D]. `rope(x, pos)` rotates rows
   * of x [1, T, H, D] whose first position is `pos`.
   */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, rope: (x: Tensor, pos: number) => Tensor): Tensor;
}
