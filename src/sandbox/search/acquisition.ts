/**
 * Expected improvement for minimisation (Jones et al., 1998):
 *   EI(x) = (f* − μ − ξ)·Φ(z) + σ·φ(z),  z = (f* − μ − ξ)/σ
 * ξ ≥ 0 trades exploitation for exploration; on standardised y, 0.01 is the usual small default.
 */

/** erfc with fractional error < 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

export function expectedImprovement(mean: number, std: number, best: number, xi: number): number {
  const imp = best - mean - xi;
  if (!(std > 1e-12)) return Math.max(0, imp);
  const z = imp / std;
  return Math.max(0, imp * normalCdf(z) + std * normalPdf(z));
}
