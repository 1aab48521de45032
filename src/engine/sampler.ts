/**
 * Samplers as a chain of stages over one row of logits (llama.cpp's design): each stage narrows or
 * reshapes a candidate set; the last one picks. Greedy is the chain with no randomness.
 */
import { Rng } from '../tensor/index.js';

export interface Candidates {
  ids: Int32Array;
  logits: Float32Array;
  /** Number of live candidates (a prefix of ids/logits). */
  n: number;
}

export interface SamplerOptions {
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** > 1 discourages tokens already present in the context (CTRL-style: divide positive logits). */
  repetitionPenalty?: number;
  seed?: number;
}

export class SamplerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SamplerError';
  }
}

function validate(o: SamplerOptions): void {
  const bad = (what: string): never => {
    throw new SamplerError(what);
  };
  if (o.temperature !== undefined && !(o.temperature >= 0))
    bad(`temperature must be ≥ 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    bad(`top-k must be an integer ≥ 0, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad(`top-p must be in (0, 1], got ${o.topP}`);
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP < 1)) bad(`min-p must be in [0, 1), got ${o.minP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0))
    bad(`repetition penalty must be > 0, got ${o.repetitionPenalty}`);
}

function sortByLogit(c: Candidates): void {
  const order = Array.from({ length: c.n }, (_, i) => i).sort(
    (a, b) => c.logits[b] - c.logits[a] || c.ids[a] - c.ids[b],
  );
  const ids = order.map((i) => c.ids[i]);
  const logits = order.map((i) => c.logits[i]);
  c.ids.set(ids);
  c.logits.set(logits);
}

/** Softmax of the live candidates (sorted descending). */
function probs(c: Candidates): Float64Array {
  const p = new Float64Array(c.n);
  const m = c.logits[0];
  let s = 0;
  for (let i = 0; i < c.n; i++) s += p[i] = Math.exp(c.logits[i] - m);
  for (let i = 0; i < c.n; i++) p[i] /= s;
  return p;
}

export class Sampler {
  private readonly rng: Rng;

  constructor(readonly options: SamplerOptions = {}) {
    validate(options);
    this.rng = new Rng(options.seed ?? 0);
  }

  get isGreedy(): boolean {
    return this.options.greedy === true || this.options.temperature === 0;
  }

  /** Picks the next id from one row of logits given the ids seen so far in this sequence. */
  sample(row: Float32Array, context: readonly number[] = []): number {
    const o = this.options;
    const logits = Float32Array.from(row);
    if (o.repetitionPenalty && o.repetitionPenalty !== 1) {
      for (const id of new Set(context)) {
        const l = logits[id];
        logits[id] = l > 0 ? l / o.repetitionPenalty : l * o.repetitionPenalty;
      }
    }
    if (this.isGreedy) {
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
      return best;
    }
    const temperature = o.temperature ?? 1;
    const c: Candidates = {
      ids: Int32Array.from({ length: logits.length }, (_, i) => i),
      logits,
      n: logits.length,
    };
    for (let i = 0; i < c.n; i++) c.logits[i] /= temperature;
    // Top-k first keeps the sort cheap for large vocabularies.
    if (o.topK && o.topK < c.n) {
      partialTopK(c, o.topK);
    }
    sortByLogit(c);
    let p = probs(c);
    if (o.topP !== undefined && o.topP < 1) {
      let acc = 0;
      let keep = c.n;
      for (let i = 0; i < c.n; i++) {
        acc += p[i];
        if (acc >= o.topP) {
          keep = i + 1;
          break;
        }
      }
      c.n = keep;
      p = probs(c);
    }
    if (o.minP) {
      const floor = p[0] * o.minP;
      let keep = 1;
      while (keep < c.n && p[keep] >= floor) keep++;
      c.n = keep;
      p = probs(c);
    }
    const u = this.rng.uniform();
    let acc = 0;
    for (let i = 0; i < c.n; i++) {
      acc += p[i];
      if (u < acc) return c.ids[i];
    }
    return c.ids[c.n - 1];
  }

  getState(): number[] {
    return this.rng.getState();
  }
}

/** Keeps the k largest logits in the prefix (order not yet sorted). */
function partialTopK(c: Candidates, k: number): void {
  const idx = Array.from({ length: c.n }, (_, i) => i);
  idx.sort((a, b) => c.logits[b] - c.logits[a] || a - b);
  const ids = idx.slice(0, k).map((i) => c.ids[i]);
  const logits = idx.slice(0, k).map((i) => c.logits[i]);
  c.ids.set(ids);
  c.logits.set(logits);
  c.n = k;
}
