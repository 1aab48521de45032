/**
 * A sampler: one chain of stages (sampler-stages.ts) over one row of logits per call, in a fixed
 * order — penalties → temperature → top-k → top-p → min-p → draw — with Hugging Face's / vLLM's
 * semantics (temperature before the filters). Greedy (temperature 0) stops after the penalties.
 *
 * Each Sampler owns its random stream and its candidate buffers, so one sequence's draws never depend
 * on what else is being sampled: give every sequence its own Sampler (the scheduler does).
 */
import { Rng } from '../tensor/index.js';
import { argmax } from './argmax.js';
import { Candidates } from './candidates.js';
import {
  applyPenalties,
  applyTemperature,
  draw,
  greedy,
  hasPenalties,
  minP,
  topK,
  topP,
  type Penalties,
} from './sampler-stages.js';

export interface SamplerOptions {
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** > 1 discourages tokens already present in the context (CTRL-style: divide positive logits). */
  repetitionPenalty?: number;
  /** OpenAI's presence penalty (subtracted once per distinct context token). */
  presencePenalty?: number;
  /** OpenAI's frequency penalty (subtracted once per occurrence). */
  frequencyPenalty?: number;
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
  for (const [name, v] of [
    ['presence', o.presencePenalty],
    ['frequency', o.frequencyPenalty],
  ] as const)
    if (v !== undefined && !(Math.abs(v) <= 2)) bad(`${name} penalty must be in [-2, 2], got ${v}`);
}

/** The distribution a draw would use: live ids and their probabilities (summing to 1). */
export interface Distribution {
  ids: number[];
  probs: number[];
}

export class Sampler {
  private readonly rng: Rng;
  private readonly penalties: Penalties;
  private cands: Candidates | null = null;

  constructor(readonly options: SamplerOptions = {}) {
    validate(options);
    this.rng = new Rng(options.seed ?? 0);
    this.penalties = {
      repetition: options.repetitionPenalty,
      presence: options.presencePenalty,
      frequency: options.frequencyPenalty,
    };
  }

  get isGreedy(): boolean {
    return this.options.greedy === true || this.options.temperature === 0;
  }

  /** Runs every stage but the pick; the set is left in the candidate buffers. */
  private narrow(row: Float32Array, context: readonly number[]): Candidates {
    if (!this.cands || this.cands.capacity < row.length) this.cands = new Candidates(row.length);
    const c = this.cands;
    c.load(row);
    applyPenalties(c, context, this.penalties);
    if (this.isGreedy) return c;
    const o = this.options;
    // top-k commutes with temperature, so it runs first and temperature touches only k logits
    if (o.topK) topK(c, o.topK);
    applyTemperature(c, o.temperature ?? 1);
    if (o.topP !== undefined) topP(c, o.topP);
    if (o.minP) minP(c, o.minP);
    return c;
  }

  /** Greedy with nothing to adjust: the pick is the row's argmax, read in place (no candidate copy). */
  private get plainGreedy(): boolean {
    return this.isGreedy && !hasPenalties(this.penalties);
  }

  /** Picks the next id from one row of logits given the ids seen so far in this sequence. */
  sample(row: Float32Array, context: readonly number[] = []): number {
    if (this.plainGreedy) return argmax(row);
    const c = this.narrow(row, context);
    return this.isGreedy ? greedy(c) : draw(c, this.rng.uniform());
  }

  /**
   * The exact distribution `sample` draws from for this row (greedy: the argmax with probability 1),
   * best first. Consumes no randomness.
   */
  distribution(row: Float32Array, context: readonly number[] = []): Distribution {
    if (this.plainGreedy) return { ids: [argmax(row)], probs: [1] };
    const c = this.narrow(row, context);
    if (this.isGreedy) return { ids: [greedy(c)], probs: [1] };
    c.computeProbs();
    c.sort();
    return { ids: Array.from(c.ids.subarray(0, c.n)), probs: Array.from(c.probs.subarray(0, c.n)) };
  }

  getState(): number[] {
    return this.rng.getState();
  }
}
