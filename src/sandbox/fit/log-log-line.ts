/**
 * A straight line in log–log space, y = a / x^b, fitted by least squares on (ln x, ln y). This is how
 * MiniCPM fitted the optimal batch size against loss, bs_opt = 1.21e9 / L^6.24 (SPEC §4.1).
 * Least squares in log space weights relative errors equally, which is what a power law over
 * decades of y wants; bootstrap percentile intervals as in fitCurve.
 */
import { FitError } from './errors.js';
import { Prng } from './prng.js';
import { percentileInterval } from './stats.js';

export interface LogLogFit {
  a: number;
  b: number;
  ci: { a: [number, number]; b: [number, number] };
  confidence: number;
  /** Coefficient of determination of the line in log–log space. */
  r2: number;
  n: number;
  bootstrapOk: number;
  predict(x: number): number;
}

export interface LogLogOptions {
  bootstrap?: number;
  seed?: number;
  confidence?: number;
}

export function logLogLine(xs: number[], ys: number[], opts: LogLogOptions = {}): LogLogFit {
  const { bootstrap = 200, seed = 0, confidence = 0.95 } = opts;
  const what = 'logLogLine (y = a / x^b)';
  if (xs.length !== ys.length)
    throw new FitError(`${what}: ${xs.length} x values but ${ys.length} y values.`);
  if (xs.length < 3)
    throw new FitError(`${what}: ${xs.length} points are too few; need at least 3 to fit 2 parameters.`);
  for (const [name, v] of [['x', xs] as const, ['y', ys] as const]) {
    const bad = v.findIndex((t) => !(Number.isFinite(t) && t > 0));
    if (bad >= 0)
      throw new FitError(
        `${what}: ${name}[${bad}] = ${v[bad]} must be finite and > 0 for logarithms; drop it.`,
      );
  }
  if (new Set(xs).size < 2)
    throw new FitError(`${what}: all x are equal, so the slope is undetermined; vary x.`);
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const fit = ols(lx, ly)!;

  const rng = new Prng(seed);
  const as: number[] = [];
  const bs: number[] = [];
  for (let t = 0; t < bootstrap; t++) {
    const idx = Array.from({ length: xs.length }, () => rng.int(xs.length));
    const f = ols(
      idx.map((i) => lx[i]),
      idx.map((i) => ly[i]),
    );
    if (!f) continue; // every resampled x equal
    as.push(Math.exp(f.intercept));
    bs.push(-f.slope);
  }
  const a = Math.exp(fit.intercept);
  const b = -fit.slope;
  return {
    a,
    b,
    ci: { a: percentileInterval(as, confidence), b: percentileInterval(bs, confidence) },
    confidence,
    r2: fit.r2,
    n: xs.length,
    bootstrapOk: as.length,
    predict: (x) => a / x ** b,
  };
}

/** Simple linear regression y = intercept + slope·x; null when x has no spread. */
function ols(x: number[], y: number[]): { intercept: number; slope: number; r2: number } | null {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) ** 2;
  }
  if (!(sxx > 1e-300)) return null;
  const slope = sxy / sxx;
  return { intercept: my - slope * mx, slope, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1 };
}
