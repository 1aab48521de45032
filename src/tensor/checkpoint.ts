/**
 * Activation checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): a segment
 * y = fn(x) keeps only its input x; its intermediates are freed at once and recomputed during backward,
 * where the segment's own graph is rebuilt and differentiated with dy as seed. Memory per segment drops to
 * one input; the cost is one more forward of the segment.
 *
 * Exactness: the recomputation runs the same kernels on the same input, so it produces the same values,
 * and the segment's gradients accumulate in the same order as without checkpointing (the nested backward
 * walks the segment's subgraph as the whole graph's walk would). Random streams the segment draws from
 * (e.g. dropout masks) are given as `replay`: their state at the forward is restored for the
 * recomputation and the state they had reached is put back afterwards, so the masks are the same and the
 * stream continues as if nothing had been redrawn.
 */
import { backward } from './autograd.js';
import { isGradEnabled, scope, track, withGrad } from './scope.js';
import type { Tensor } from './tensor.js';

/** A random stream whose position can be saved and restored (Rng). */
export interface Replayable {
  getState(): number[];
  setState(state: readonly number[]): void;
}

/**
 * y = fn(x) without keeping fn's intermediates: backward recomputes them. Parameters fn reads receive
 * their gradients during that recomputation (accumulated into `.grad` as usual); x receives d(x). Under
 * noGrad this is just fn(x). fn must be a pure function of x, the parameters and the `replay` streams.
 */
export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor, replay: readonly Replayable[] = []): Tensor {
  if (!isGradEnabled()) return fn(x);
  const states = replay.map((r) => r.getState());
  // Recorded as usual (so y knows whether any parameter took part), then the segment's graph is dropped.
  const y = scope(() => fn(x));
  if (!y.requiresGrad || y === x) return y;
  const inputGrad = (dy: Tensor): Tensor | null => {
    const reached = replay.map((r) => r.getState());
    replay.forEach((r, i) => r.setState(states[i]));
    try {
      const dx = scope(() =>
        withGrad(() => {
          // a leaf standing for x: the segment's backward stops at it
          const leaf = x.view(x.shape, x.strides, x.offset);
          leaf.requiresGrad = x.requiresGrad;
          backward(fn(leaf), dy);
          const g = leaf.grad;
          leaf.grad = null;
          return g;
        }),
      );
      // leaf gradients are kept out of scopes: hand this one to the enclosing backward's scope
      if (dx) track(dx);
      return dx;
    } finally {
      replay.forEach((r, i) => r.setState(reached[i]));
    }
  };
  y.node = { op: 'checkpoint', inputs: [x], attrs: { inputGrad }, saved: [] };
  return y;
}
