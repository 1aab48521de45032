/** Parameter initialisers over the engine's seeded generator. */
import { Rng, Tensor } from '../tensor/index.js';

export function normal(rng: Rng, shape: number[], std: number): Tensor {
  // through the engine's allocator (aligned, huge pages), not a bare Float32Array: weights are streamed
  // by every decode step, which runs measurably faster from that memory
  const t = Tensor.empty(shape, 'f32');
  const a = t.data as Float32Array;
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
  return t;
}

export function ones(shape: number[]): Tensor {
  return Tensor.ones(shape);
}
