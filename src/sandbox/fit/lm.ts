/**
 * Levenberg–Marquardt on the Huber loss with box constraints, by iteratively reweighted least
 * squares: each iteration solves (JᵀWJ + λ·diag(JᵀWJ))·Δ = JᵀWr with w = ψ(r)/r. That weighted
 * Gauss–Newton model majorises Huber's ρ, so accepted steps always lower the robust loss.
 *
 * Why our own and not a package: we need the Huber loss, bounds and thousands of warm-started refits
 * for the bootstrap in one small deterministic loop; the npm LM packages (ml-levenberg-marquardt and
 * kin) are plain least squares without bounds handling of this kind, so we would wrap them anyway.
 *
 * Bounds: parameters that sit on a bound are frozen while the gradient pushes them outward (a simple
 * active set), and every step is projected back into the box.
 */
import { solve } from './linalg.js';
import { huberLoss, huberWeight } from './stats.js';

export interface LmProblem {
  ys: number[];
  /** Predictions at every point for parameter vector q (may return non-finite values: rejected). */
  model(q: number[]): number[];
  lo: number[];
  hi: number[];
  /** Huber threshold; Infinity gives plain least squares. */
  delta: number;
}

export interface LmResult {
  q: number[];
  loss: number;
  residuals: number[];
  iterations: number;
}

const MAX_ITER = 300;
const LAMBDA_MAX = 1e16;

export function levenbergMarquardt(pr: LmProblem, q0: number[]): LmResult {
  const k = q0.length;
  let q = clamp(q0, pr.lo, pr.hi);
  let r = residuals(pr, q);
  let loss = lossOf(r, pr.delta);
  if (!Number.isFinite(loss)) return { q, loss: Infinity, residuals: r, iterations: 0 };
  let lambda = 1e-3;
  let it = 0;
  for (; it < MAX_ITER; it++) {
    const J = jacobian(pr, q);
    const w = r.map((ri) => huberWeight(ri, pr.delta));
    // A = JᵀWJ, g = JᵀWr (the Gauss–Newton right-hand side, minus the loss gradient).
    const A = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    const g = new Array<number>(k).fill(0);
    for (let i = 0; i < r.length; i++) {
      for (let a = 0; a < k; a++) {
        g[a] += J[i][a] * w[i] * r[i];
        for (let b = 0; b <= a; b++) A[a][b] += J[i][a] * w[i] * J[i][b];
      }
    }
    for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) A[b][a] = A[a][b];
    const free = q.map(
      (qa, a) => !(atBound(qa, pr.lo[a]) && g[a] <= 0) && !(atBound(qa, pr.hi[a]) && g[a] >= 0),
    );
    const idx = free.flatMap((f, a) => (f ? [a] : []));
    if (idx.length === 0) break;
    const maxDiag = Math.max(...idx.map((a) => A[a][a]), 0);
    if (!(maxDiag > 0)) break; // the residuals do not depend on the free parameters
    let accepted = false;
    let step: number[] = [];
    while (lambda < LAMBDA_MAX) {
      const M = idx.map((a) =>
        idx.map((b) => A[a][b] + (a === b ? lambda * Math.max(A[a][a], 1e-12 * maxDiag) : 0)),
      );
      const d = solve(
        M,
        idx.map((a) => g[a]),
      );
      if (d) {
        const qn = [...q];
        idx.forEach((a, t) => (qn[a] += d[t]));
        const qc = clamp(qn, pr.lo, pr.hi);
        const rn = residuals(pr, qc);
        const ln = lossOf(rn, pr.delta);
        if (ln < loss) {
          step = qc.map((v, a) => v - q[a]);
          [q, r] = [qc, rn];
          const gain = loss - ln;
          loss = ln;
          lambda = Math.max(lambda * 0.3, 1e-15);
          accepted = true;
          // Converged when the loss or the parameters stop moving at double precision.
          if (gain <= 1e-15 * loss) return { q, loss, residuals: r, iterations: it + 1 };
          break;
        }
      }
      lambda *= 10;
    }
    if (!accepted) break;
    if (step.every((s, a) => Math.abs(s) <= 1e-12 * (Math.abs(q[a]) + 1e-12))) break;
  }
  return { q, loss, residuals: r, iterations: it };
}

function residuals(pr: LmProblem, q: number[]): number[] {
  const f = pr.model(q);
  return pr.ys.map((y, i) => y - f[i]);
}

function lossOf(r: number[], delta: number): number {
  return r.every(Number.isFinite) ? huberLoss(r, delta) : Infinity;
}

/** Central differences, one-sided at a bound; parameters are O(1) in conditioned coordinates. */
function jacobian(pr: LmProblem, q: number[]): number[][] {
  const n = pr.ys.length;
  const J = Array.from({ length: n }, () => new Array<number>(q.length).fill(0));
  for (let a = 0; a < q.length; a++) {
    const h = 6e-6 * Math.max(Math.abs(q[a]), 1e-3);
    const up = Math.min(q[a] + h, pr.hi[a]);
    const dn = Math.max(q[a] - h, pr.lo[a]);
    const fu = pr.model(q.map((v, b) => (b === a ? up : v)));
    const fd = pr.model(q.map((v, b) => (b === a ? dn : v)));
    for (let i = 0; i < n; i++) {
      const d = (fu[i] - fd[i]) / (up - dn);
      J[i][a] = Number.isFinite(d) ? d : 0;
    }
  }
  return J;
}

function atBound(v: number, b: number): boolean {
  return Number.isFinite(b) && Math.abs(v - b) <= 1e-12 * Math.max(1, Math.abs(b));
}

function clamp(q: number[], lo: number[], hi: number[]): number[] {
  return q.map((v, a) => Math.min(Math.max(v, lo[a]), hi[a]));
}
