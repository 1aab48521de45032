/**
 * Bayesian optimisation for the sandbox's hyper-parameter search (SPEC §2: scale_emb, scale_depth,
 * init_std and lr were tuned with ~400 runs on the smallest model).
 *
 * suggest() is a pure function of (space, options, history): every random stream is seeded from
 * (seed, number of trials), so a study that crashes and resumes from its registry proposes exactly the
 * point it would have proposed. The first `initialRandom` suggestions are a seeded Latin hypercube
 * (the i-th suggestion is the i-th design point); after that a Matérn-5/2 GP fitted by maximum
 * marginal likelihood and expected improvement pick the next point.
 */
import { expectedImprovement } from './acquisition.js';
import { makeCandidates, nearestDistance } from './candidates.js';
import { SearchError } from './errors.js';
import { fitHyper } from './fit-hyper.js';
import { GaussianProcess } from './gp.js';
import { latinHypercube } from './lhs.js';
import { mixSeed, Prng } from './prng.js';
import { fromUnit, pointFromUnit, trialsToUnit, validateSpace, type SearchDim, type Trial } from './space.js';
import { makeTargets, type Targets } from './targets.js';

export interface BayesOptOptions {
  seed: number;
  /** Latin-hypercube points before the GP takes over; default max(5, 2·dims). */
  initialRandom?: number;
  /** Uniform random candidates for maximising EI; default 2000 (plus local perturbations of the best few). */
  candidates?: number;
  /** EI exploration offset on standardised loss; default 0.01. */
  xi?: number;
  /** Proposals closer than this (unit-cube distance) to an evaluated point are skipped; default 0.01. */
  minDistance?: number;
}

/** Seed-stream tags, so the design, the hyper-parameter restarts and the candidates never share draws. */
const STREAM = { design: 1, hyper: 2, candidates: 3 } as const;
/** Local perturbations are centred on this many best trials. */
const ANCHORS = 5;

interface Model {
  gp: GaussianProcess;
  targets: Targets;
}

function checkInt(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min))
    throw new SearchError(`BayesOpt option ${name} = ${v} must be an integer ≥ ${min}.`);
}

export class BayesOpt {
  readonly space: SearchDim[];
  readonly initialRandom: number;
  private readonly seed: number;
  private readonly nCandidates: number;
  private readonly xi: number;
  private readonly minDistance: number;
  private readonly design: number[][];

  constructor(space: SearchDim[], opts: BayesOptOptions) {
    validateSpace(space);
    if (!opts || !Number.isFinite(opts.seed))
      throw new SearchError(`BayesOpt needs a finite numeric seed (got ${String(opts?.seed)}); pass { seed: 0 } or similar.`);
    checkInt('initialRandom', opts.initialRandom, 1);
    checkInt('candidates', opts.candidates, 1);
    if (opts.xi !== undefined && !(Number.isFinite(opts.xi) && opts.xi >= 0))
      throw new SearchError(`BayesOpt option xi = ${opts.xi} must be a finite number ≥ 0.`);
    if (opts.minDistance !== undefined && !(Number.isFinite(opts.minDistance) && opts.minDistance >= 0))
      throw new SearchError(`BayesOpt option minDistance = ${opts.minDistance} must be a finite number ≥ 0.`);
    this.space = space.map((d) => ({ ...d }));
    this.seed = opts.seed;
    this.initialRandom = opts.initialRandom ?? Math.max(5, 2 * space.length);
    this.nCandidates = opts.candidates ?? 2000;
    this.xi = opts.xi ?? 0.01;
    this.minDistance = opts.minDistance ?? 0.01;
    this.design = latinHypercube(this.initialRandom, space.length, mixSeed(this.seed, STREAM.design));
  }

  /** Next point to evaluate; a pure function of (space, options, history). */
  suggest(history: Trial[]): Record<string, number> {
    const us = trialsToUnit(this.space, history);
    const i = history.length;
    if (i < this.initialRandom) return pointFromUnit(this.space, this.design[i]);
    const rng = new Prng(mixSeed(this.seed, i, STREAM.candidates));
    const model = this.fit(us, history);
    if (!model) return pointFromUnit(this.space, this.spaceFilling(rng, us)); // every run diverged
    const { gp, targets } = model;
    const anchors = [...targets.finite]
      .sort((a, b) => history[a].y - history[b].y)
      .slice(0, ANCHORS)
      .map((j) => us[j]);
    const perAnchor = Math.max(16, Math.round(this.nCandidates / 20));
    const cands = makeCandidates(rng, this.space.length, this.nCandidates, anchors, perAnchor);
    let best: number[] | null = null;
    let bestEi = -1;
    let bestStd = -1;
    for (const c of cands) {
      if (nearestDistance(c, us) < this.minDistance) continue;
      const p = gp.predict(c);
      const std = Math.sqrt(p.variance);
      const ei = expectedImprovement(p.mean, std, targets.bestZ, this.xi);
      // When EI underflows to 0 everywhere, prefer the most uncertain point rather than the first one.
      if (ei > bestEi || (ei === bestEi && std > bestStd)) {
        best = c;
        bestEi = ei;
        bestStd = std;
      }
    }
    return pointFromUnit(this.space, best ?? this.spaceFilling(rng, us));
  }

  /** The lowest finite-loss trial, or null when there is none. */
  best(history: Trial[]): Trial | null {
    let best: Trial | null = null;
    for (const t of history) if (Number.isFinite(t.y) && (!best || t.y < best.y)) best = t;
    return best;
  }

  /**
   * GP posterior mean/std (in loss units) over a steps×steps grid of dims a and b spanning their
   * bounds (log-spaced for log dims), other dims fixed at the best trial. Rows run over a, then b.
   */
  surface(history: Trial[], a: string, b: string, steps: number): { a: number; b: number; mean: number; std: number }[] {
    const names = this.space.map((d) => d.name);
    for (const n of [a, b])
      if (!names.includes(n))
        throw new SearchError(`surface: unknown dimension '${n}'; choose from ${names.join(', ')}.`);
    if (a === b) throw new SearchError(`surface: dims a and b are both '${a}'; pick two different dimensions.`);
    if (!(Number.isInteger(steps) && steps >= 2))
      throw new SearchError(`surface: steps = ${steps} must be an integer ≥ 2.`);
    const us = trialsToUnit(this.space, history);
    const model = this.fit(us, history);
    const top = this.best(history);
    if (!model || !top)
      throw new SearchError('surface needs at least one trial with a finite loss; run more trials first.');
    const ia = names.indexOf(a);
    const ib = names.indexOf(b);
    const base = us[history.indexOf(top)];
    const { gp, targets } = model;
    const out: { a: number; b: number; mean: number; std: number }[] = [];
    for (let i = 0; i < steps; i++)
      for (let j = 0; j < steps; j++) {
        const u = base.slice();
        u[ia] = i / (steps - 1);
        u[ib] = j / (steps - 1);
        const p = gp.predict(u);
        out.push({
          a: fromUnit(this.space[ia], u[ia]),
          b: fromUnit(this.space[ib], u[ib]),
          mean: targets.mean + targets.scale * p.mean,
          std: targets.scale * Math.sqrt(p.variance),
        });
      }
    return out;
  }

  private fit(us: number[][], history: Trial[]): Model | null {
    const targets = makeTargets(history.map((t) => t.y));
    if (!targets) return null;
    // Fewer restarts on long histories: each likelihood evaluation is an O(n³) Cholesky, and with
    // many points the likelihood is sharply peaked so one start from the default suffices.
    const n = us.length;
    const restarts = n <= 60 ? 3 : n <= 120 ? 2 : 1;
    const maxEvals = n <= 120 ? 120 : 80;
    const hyper = fitHyper(us, targets.z, { seed: mixSeed(this.seed, n, STREAM.hyper), restarts, maxEvals });
    return { gp: new GaussianProcess(us, targets.z, hyper), targets };
  }

  /** The random point farthest from every evaluated point: the fallback when there is no model. */
  private spaceFilling(rng: Prng, us: number[][]): number[] {
    let best: number[] = [];
    let bestD = -1;
    for (let k = 0; k < 256; k++) {
      const c = Array.from({ length: this.space.length }, () => rng.next());
      const dist = us.length ? nearestDistance(c, us) : 0;
      if (dist > bestD) {
        best = c;
        bestD = dist;
      }
    }
    return best;
  }
}
