/** Parameter initialisers over the engine's seeded generator. */
import { Rng, Tensor } from '../tensor/index.js';

export function normal(rng: Rng, shape: number[], std: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return Tensor.from(a, shape);
}

export function ones(shape: number[]): Tensor {
  return Tensor.ones(shape);
}
