/**
 * fitCurve: robust multi-start fit of a CurveForm with bootstrap confidence intervals.
 *
 * 1. Work in the form's well-conditioned coordinates when it offers them (Conditioning).
 * 2. Run Levenberg–Marquardt from several starts and keep the lowest loss.
 * 3. With huberDelta 'auto', first fit by least squares, set δ = 1.345·σ̂ (σ̂ = 1.4826·MAD of the
 *    residuals, floored at 1e-4), refit with Huber from each distinct least-squares optimum, then
 *    re-estimate δ from the robust residuals and polish. A fixed δ such as Chinchilla's 1e-3 is tuned
 *    to its noise level; ours adapts to the data.
 * 4. Leave-one-out: refit without each point, warm-started from the best fit with the same δ, and
 *    predict the point left out (looRmse, the yardstick of compareFits).
 * 5. Bootstrap: resample the points with replacement, refit from the best point with the same δ, and
 *    take percentile intervals of each parameter in original units.
 */
import { FitError } from './errors.js';
import { levenbergMarquardt, type LmResult } from './lm.js';
import { Prng } from './prng.js';
import { madScale, percentileInterval } from './stats.js';
import type { Conditioning, CurveForm, FitOptions, FitResult, Params } from './types.js';
import { checkData, fittable } from './validate.js';

/** Huber's tuning constant: 95% efficiency under Gaussian noise. */
const HUBER_K = 1.345;
/**
 * Smallest automatic δ, in loss units: on (nearly) exact data the MAD is ~0 and δ → 0 would turn
 * Huber into L1 with LM crawling; 1e-4 is below any loss noise the sandbox measures.
 */
const MIN_AUTO_DELTA = 1e-4;

export const FIT_DEFAULTS = {
  huberDelta: 'auto' as number | 'auto',
  starts: 12,
  bootstrap: 200,
  seed: 0,
  confidence: 0.95,
};

export function fitCurve<X>(form: CurveForm<X>, xs: X[], ys: number[], opts: FitOptions = {}): FitResult<X> {
  checkData(form, xs, ys);
  // Explicit `undefined` options mean "default", so they must not overwrite the defaults.
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as FitOptions;
  const o = { ...FIT_DEFAULTS, ...given };
  const rng = new Prng(o.seed);
  const cond = conditioningOf(form, xs);
  const inner = cond.form;
  const names = inner.params;
  const lo = names.map((p) => inner.bounds?.[p]?.[0] ?? -Infinity);
  const hi = names.map((p) => inner.bounds?.[p]?.[1] ?? Infinity);
  const toVec = (p: Params) => names.map((name) => p[name]);
  const toParams = (q: number[]) => Object.fromEntries(names.map((name, a) => [name, q[a]]));
  const run = (sx: X[], sy: number[], delta: number, q0: number[]): LmResult =>
    levenbergMarquardt(
      {
        ys: sy,
        lo,
        hi,
        delta,
        model: (q) => {
          const p = toParams(q);
          return sx.map((x) => inner.predict(p, x));
        },
      },
      q0,
    );

  const initial = (o.initial ?? []).map((p) => cond.fromOriginal(p));
  // Warm starts alone may fill the budget (leave-one-out refits): then skip the form's grid.
  const starts = [...initial, ...(initial.length < o.starts ? inner.starts(xs, ys) : [])]
    .map(toVec)
    .filter((q) => q.every(Number.isFinite))
    .slice(0, Math.max(1, o.starts));
  if (starts.length === 0)
    throw new FitError(
      `form '${form.name}' produced no finite starting point; fix its starts() or pass opts.initial.`,
    );
  const runAll = (delta: number, from: number[][]): LmResult[] => from.map((q0) => run(xs, ys, delta, q0));
  const lowest = (fits: LmResult[]): LmResult => fits.reduce((a, b) => (b.loss < a.loss ? b : a));

  let delta: number;
  let best: LmResult;
  if (o.huberDelta === 'auto') {
    const ls = runAll(Infinity, starts);
    delta = autoDelta(lowest(ls).residuals);
    // The Huber pass restarts from each distinct least-squares optimum rather than from the raw
    // starts: same basins explored, and a small δ (nearly L1) makes LM slow from far away.
    best = lowest(runAll(delta, distinct(ls.map((f) => f.q))));
    for (let round = 0; round < 3; round++) {
      const next = autoDelta(best.residuals);
      if (Math.abs(next - delta) <= 0.05 * delta) break;
      delta = next;
      best = run(xs, ys, delta, best.q);
    }
  } else {
    if (!(o.huberDelta > 0)) throw new FitError(`huberDelta must be > 0 or 'auto', got ${o.huberDelta}.`);
    delta = o.huberDelta;
    best = lowest(runAll(delta, starts));
  }

  const k = form.params.length;
  const looErrors = xs.map((x, i) => {
    const keep = (_: unknown, j: number) => j !== i;
    const sx = xs.filter(keep);
    if (!fittable(form, sx)) return NaN; // without point i the fit is undetermined
    const fit = run(sx, ys.filter(keep), delta, best.q);
    return ys[i] - inner.predict(toParams(fit.q), x);
  });
  const looOk = looErrors.filter(Number.isFinite);
  const looRmse = looOk.length ? Math.sqrt(looOk.reduce((s, e) => s + e * e, 0) / looOk.length) : NaN;

  const samples: Params[] = [];
  for (let b = 0; b < o.bootstrap; b++) {
    const idx = Array.from({ length: xs.length }, () => rng.int(xs.length));
    const bx = idx.map((i) => xs[i]);
    if (!fittable(form, bx)) continue; // this resample cannot determine every parameter
    const fit = run(
      bx,
      idx.map((i) => ys[i]),
      delta,
      best.q,
    );
    const p = cond.toOriginal(toParams(fit.q));
    if (Number.isFinite(fit.loss) && form.params.every((name) => Number.isFinite(p[name]))) samples.push(p);
  }

  const params = cond.toOriginal(toParams(best.q));
  const predict = (x: X) => form.predict(params, x);
  const n = xs.length;
  const rss = best.residuals.reduce((s, r) => s + r * r, 0);
  const mean = ys.reduce((s, y) => s + y, 0) / n;
  const tss = ys.reduce((s, y) => s + (y - mean) ** 2, 0);
  const aic = n * Math.log(Math.max(rss / n, 1e-300)) + 2 * k;
  return {
    form: form.name,
    formula: form.formula,
    params,
    ci: Object.fromEntries(
      form.params.map((name) => [
        name,
        percentileInterval(
          samples.map((s) => s[name]),
          o.confidence,
        ),
      ]),
    ),
    confidence: o.confidence,
    rmse: Math.sqrt(rss / n),
    looRmse,
    looErrors,
    loss: best.loss,
    huberDelta: delta,
    n,
    k,
    aic,
    aicc: n > k + 1 ? aic + (2 * k * (k + 1)) / (n - k - 1) : Infinity,
    r2: tss > 0 ? 1 - rss / tss : NaN,
    bootstrapOk: samples.length,
    samples,
    predict,
    curve: form,
    xs,
    ys,
  };
}

/** Parameter vectors with near-duplicates (relative 1e-6) removed. */
function distinct(qs: number[][]): number[][] {
  const out: number[][] = [];
  for (const q of qs)
    if (
      !out.some((u) =>
        u.every((v, a) => Math.abs(v - q[a]) <= 1e-6 * Math.max(Math.abs(v), Math.abs(q[a]), 1e-9)),
      )
    )
      out.push(q);
  return out;
}

/** δ = 1.345·σ̂ (MAD scale), floored so that an exact fit does not give δ = 0. */
function autoDelta(residuals: number[]): number {
  return Math.max(HUBER_K * madScale(residuals), MIN_AUTO_DELTA);
}

function conditioningOf<X>(form: CurveForm<X>, xs: X[]): Conditioning<X> {
  return form.condition?.(xs) ?? { form, toOriginal: (q) => ({ ...q }), fromOriginal: (p) => ({ ...p }) };
}

/** The JSON-friendly part of a fit (for registries and reports). */
export function fitSummary(fit: FitResult): Record<string, unknown> {
  const { form, formula, params, ci, confidence, rmse, looRmse, loss, huberDelta, n, k, aic, aicc, r2 } = fit;
  return {
    form,
    formula,
    params,
    ci,
    confidence,
    rmse,
    looRmse,
    loss,
    huberDelta,
    n,
    k,
    aic,
    aicc,
    r2,
    bootstrapOk: fit.bootstrapOk,
  };
}
