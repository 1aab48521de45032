/**
 * The box every built-in form shares (SPEC §4 laws): exponents in [0, 3] (a loss exponent above 3 is a
 * fitting artefact, and the cap keeps LM out of the flat region where C^(−α) underflows), L0 ≥ 0
 * (loss is non-negative). Coefficients are kept > 0 by fitting their logarithms instead of bounding.
 */
export const EXPONENT_BOUNDS: [number, number] = [0, 3];
export const NONNEG: [number, number] = [0, Infinity];
