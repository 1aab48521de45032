/**
 * Which of two fits on the same data is better. In-sample RMSE always favours the more flexible
 * form and AIC only corrects for parameter count, so the verdict rests on leave-one-out prediction
 * error (each point predicted by a fit that never saw it): the honest reading of "fits better" and
 * the closest cheap proxy for "extrapolates better". AIC and in-sample RMSE are reported beside it.
 */
import { FitError } from './errors.js';
import type { FitResult } from './types.js';
import { xKey } from './validate.js';

export interface FitComparison {
  /** The winning form's name (lower leave-one-out RMSE; AIC breaks an exact tie). */
  better: string;
  /** One sentence for reports: the leave-one-out RMSEs, then AIC and in-sample RMSE. */
  reason: string;
  /** Which argument won, for when both fits have the same form name. */
  which: 'a' | 'b';
  looRmse: { a: number; b: number };
  aic: { a: number; b: number };
  rmse: { a: number; b: number };
  /** Whether AIC and in-sample RMSE pick the same fit as leave-one-out. */
  agree: boolean;
}

export function compareFits<X>(a: FitResult<X>, b: FitResult<X>): FitComparison {
  const same =
    a.xs.length === b.xs.length &&
    a.xs.every((x, i) => xKey(x) === xKey(b.xs[i])) &&
    a.ys.every((y, i) => y === b.ys[i]);
  if (!same)
    throw new FitError(
      `compareFits: '${a.form}' and '${b.form}' were fitted on different data; fit both on the same points.`,
    );
  if (!(Number.isFinite(a.looRmse) && Number.isFinite(b.looRmse)))
    throw new FitError(
      `compareFits: leave-one-out RMSE is undefined ('${a.form}' ${a.looRmse}, '${b.form}' ${b.looRmse}): ` +
        `no point can be left out without leaving a fit undetermined; add points.`,
    );
  const lower = (u: number, v: number): 'a' | 'b' => (u <= v ? 'a' : 'b');
  const byAic = lower(a.aic, b.aic);
  const tie = Math.abs(a.looRmse - b.looRmse) <= 1e-12 * Math.max(a.looRmse, b.looRmse);
  const which = tie ? byAic : lower(a.looRmse, b.looRmse);
  const [w, l] = which === 'a' ? [a, b] : [b, a];
  const g = (v: number) => v.toPrecision(4);
  return {
    better: w.form,
    reason:
      `${w.form} fits better than ${l.form}: leave-one-out RMSE ${g(w.looRmse)} vs ${g(l.looRmse)} ` +
      `(AIC ${g(w.aic)} vs ${g(l.aic)}, in-sample RMSE ${g(w.rmse)} vs ${g(l.rmse)})`,
    which,
    looRmse: { a: a.looRmse, b: b.looRmse },
    aic: { a: a.aic, b: b.aic },
    rmse: { a: a.rmse, b: b.rmse },
    agree: byAic === which && lower(a.rmse, b.rmse) === which,
  };
}
