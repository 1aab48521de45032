/** Finite-difference gradient checks in float64. */
import { backward, mul, noGrad, Rng, sum, Tensor } from '../../src/tensor/index.js';

export function randomF64(rng: Rng, shape: number[], scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return Tensor.from(a, shape, 'f64');
}

export interface GradCheckResult {
  /** Largest |analytic − numeric| / max(1, |numeric|) over all checked inputs and elements. */
  maxError: number;
  worst: string;
}

/**
 * Checks d/dx of sum(f(inputs) ⊙ R) (R fixed random) against central differences for every input
 * whose index is in `wrt`.
 */
export function gradCheck(
  f: (xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  wrt: number[] = inputs.map((_, i) => i),
  { eps = 1e-6, seed = 7 } = {},
): GradCheckResult {
  const rng = new Rng(seed);
  const probeShape = f(inputs).shape as number[];
  const R = randomF64(rng, probeShape);
  const objective = (xs: Tensor[]): Tensor => sum(mul(f(xs), R));

  const params = inputs.map((x, i) => {
    if (!wrt.includes(i)) return x;
    const p = Tensor.parameter(x.contiguousCopy());
    return p;
  });
  backward(objective(params));

  let maxError = 0;
  let worst = '';
  for (const i of wrt) {
    const p = params[i];
    const data = p.data as Float64Array;
    const g = p.grad ? (p.grad.data as Float64Array) : new Float64Array(p.size);
    for (let k = 0; k < p.size; k++) {
      const orig = data[k];
      data[k] = orig + eps;
      const fp = noGrad(() => objective(params).item());
      data[k] = orig - eps;
      const fm = noGrad(() => objective(params).item());
      data[k] = orig;
      const numeric = (fp - fm) / (2 * eps);
      const err = Math.abs(g[k] - numeric) / Math.max(1, Math.abs(numeric));
      if (err > maxError) {
        maxError = err;
        worst = `input ${i} element ${k}: analytic ${g[k]} numeric ${numeric}`;
      }
    }
  }
  return { maxError, worst };
}
