/** Input checks shared by every fit: degenerate data fails early with a message that says what to do. */
import { FitError } from './errors.js';
import type { CurveForm } from './types.js';

/** Identity of an x for counting distinct points (numbers, or plain objects of numbers). */
export function xKey(x: unknown): string {
  return typeof x === 'number' ? String(x) : JSON.stringify(x);
}

function finiteX(x: unknown): boolean {
  if (typeof x === 'number') return Number.isFinite(x);
  if (x && typeof x === 'object')
    return Object.values(x).every((v) => typeof v === 'number' && Number.isFinite(v));
  return false;
}

export function distinctCount(xs: unknown[]): number {
  return new Set(xs.map(xKey)).size;
}

export function checkData<X>(form: CurveForm<X>, xs: X[], ys: number[]): void {
  const k = form.params.length;
  const what = `fitting '${form.name}' (${form.formula})`;
  if (xs.length !== ys.length)
    throw new FitError(`${what}: ${xs.length} x values but ${ys.length} y values; pass one y per x.`);
  if (xs.length < k + 1)
    throw new FitError(
      `${what}: ${xs.length} points are too few for ${k} parameters; need at least ${k + 1} ` +
        `(more for useful confidence intervals). Add runs or fit a form with fewer parameters.`,
    );
  const badX = xs.findIndex((x) => !finiteX(x));
  if (badX >= 0)
    throw new FitError(
      `${what}: x[${badX}] = ${xKey(xs[badX])} is not finite; drop that point or fix its input.`,
    );
  const badY = ys.findIndex((y) => !Number.isFinite(y));
  if (badY >= 0)
    throw new FitError(`${what}: y[${badY}] = ${ys[badY]} is not finite (a diverged run?); drop that point.`);
  const distinct = distinctCount(xs);
  if (distinct < 2)
    throw new FitError(
      `${what}: all ${xs.length} points have the same x, so the curve's shape is undetermined; vary x.`,
    );
  if (distinct < k)
    throw new FitError(
      `${what}: only ${distinct} distinct x values for ${k} parameters; measure at least ${k} different x.`,
    );
  form.validate?.(xs);
}

/** Whether a (bootstrap) subset still determines every parameter. */
export function fittable<X>(form: CurveForm<X>, xs: X[]): boolean {
  if (distinctCount(xs) < Math.max(2, form.params.length)) return false;
  try {
    form.validate?.(xs);
    return true;
  } catch (e) {
    if (e instanceof FitError) return false;
    throw e;
  }
}
