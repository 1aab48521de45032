/**
 * Hooke–Jeeves pattern search for maximising a function of a few bounded variables. Derivative-free
 * and deterministic: the GP hyper-parameter likelihood is low-dimensional and often flat or rough,
 * where this is more robust than a gradient method and needs no gradient code. The pattern move
 * (repeat the last successful displacement) matters: the length scales often need to move together,
 * which a pure one-coordinate-at-a-time search does only in many small steps.
 */
export interface PatternSearchOptions {
  /** Initial step in every coordinate. */
  step: number;
  /** Stop once the step falls below this. */
  minStep: number;
  /** Stop after this many evaluations. */
  maxEvals: number;
}

export interface PatternSearchResult {
  x: number[];
  fx: number;
  evals: number;
}

export function patternSearch(
  f: (x: number[]) => number,
  x0: number[],
  lo: number[],
  hi: number[],
  opts: PatternSearchOptions,
): PatternSearchResult {
  const clamp = (v: number, j: number) => Math.min(hi[j], Math.max(lo[j], v));
  let evals = 0;
  const evalAt = (p: number[]) => {
    evals++;
    return f(p);
  };
  /** One exploratory sweep: try ±step in each coordinate around p, keeping what improves. */
  const explore = (p: number[], fp: number, step: number) => {
    let x = p;
    let fx = fp;
    for (let j = 0; j < x.length && evals < opts.maxEvals; j++) {
      for (const dir of [1, -1]) {
        const v = clamp(x[j] + dir * step, j);
        if (v === x[j]) continue;
        const y = x.slice();
        y[j] = v;
        const fy = evalAt(y);
        if (fy > fx) {
          x = y;
          fx = fy;
          break;
        }
      }
    }
    return { x, fx };
  };
  let x = x0.map(clamp);
  let fx = evalAt(x);
  let step = opts.step;
  while (step >= opts.minStep && evals < opts.maxEvals) {
    const e = explore(x, fx, step);
    if (!(e.fx > fx)) {
      step /= 2;
      continue;
    }
    // Pattern moves: keep jumping along the successful displacement while it (plus a sweep) pays.
    let prev = x;
    x = e.x;
    fx = e.fx;
    while (evals < opts.maxEvals) {
      const jump = x.map((v, j) => clamp(2 * v - prev[j], j));
      const fj = evalAt(jump);
      const ej = explore(jump, fj, step);
      if (!(ej.fx > fx)) break;
      prev = x;
      x = ej.x;
      fx = ej.fx;
    }
  }
  return { x, fx, evals };
}
