/**
 * The stages of a sampler chain, each a function over a Candidates set (llama.cpp's design; the
 * semantics of each stage are Hugging Face's / vLLM's). Stages narrow or reshape the set; `draw` and
 * `greedy` pick. Only top-p needs order, and it sorts no more than the one probability bucket its cut
 * falls in; everything else is a linear pass.
 */
import type { Candidates } from './candidates.js';

export interface Penalties {
  /** > 1 discourages tokens in the context (CTRL / Hugging Face: divide positive logits, multiply negative). */
  repetition?: number;
  /** OpenAI's presence penalty: subtracted once from every token in the context. */
  presence?: number;
  /** OpenAI's frequency penalty: subtracted once per occurrence in the context. */
  frequency?: number;
}

export function hasPenalties(p: Penalties): boolean {
  return (p.repetition !== undefined && p.repetition !== 1) || !!p.presence || !!p.frequency;
}

/**
 * Logits processors for the penalties, on a freshly loaded set (position = id). Each distinct id in
 * `context` is adjusted once, whatever the order of the context.
 */
export function applyPenalties(c: Candidates, context: readonly number[], p: Penalties): void {
  if (!hasPenalties(p) || context.length === 0) return;
  const counts = new Map<number, number>();
  for (const id of context) counts.set(id, (counts.get(id) ?? 0) + 1);
  const r = p.repetition ?? 1;
  for (const [id, count] of counts) {
    if (id < 0 || id >= c.n) continue;
    let l = c.logits[id];
    if (r !== 1) l = l > 0 ? l / r : l * r;
    l -= (p.frequency ?? 0) * count + (p.presence ?? 0);
    c.logits[id] = l;
  }
  c.probsValid = false;
  c.sorted = false;
}

/** Divides the live logits by t > 0. */
export function applyTemperature(c: Candidates, t: number): void {
  if (t === 1) return;
  const inv = 1 / t;
  for (let i = 0; i < c.n; i++) c.logits[i] *= inv;
  c.probsValid = false;
}

/** Keeps the k most likely tokens (k ≤ 0 keeps all). Commutes with temperature. */
export function topK(c: Candidates, k: number): void {
  if (k > 0) c.keepTopK(k);
}

/** Bucket width (in logit units) and count of the nucleus histogram; the last bucket is open-ended. */
const BUCKETS_PER_UNIT = 16;
const BUCKETS = 1024;
/** Below this many live entries top-p simply sorts. */
const SORT_MAX = 1024;
/** How many of the best entries top-p tries before it falls back to the histogram. */
const FEW = 64;

/** Scratch of the histogram pass, grown to the largest row seen and reused (no per-token allocation). */
let bucketOf = new Uint16Array(0);
let order = new Int32Array(0);
const mass = new Float64Array(BUCKETS);

/**
 * Nucleus: keeps the smallest best-first prefix whose probability reaches p (the entry that crosses p
 * included). On a large unsorted set it first tries the best 64 (a heap selection) unless even 64
 * copies of the top probability stay below p (a flat row); otherwise, or when they do not reach p, a
 * histogram of (max − logit) finds the bucket the cut falls in, entries of better buckets are kept
 * unsorted and only that bucket is sorted.
 */
export function topP(c: Candidates, p: number): void {
  if (p >= 1 || c.n <= 1) return;
  c.computeProbs();
  if (c.sorted || c.n <= SORT_MAX) {
    c.sort();
    let acc = 0;
    for (let i = 0; i < c.n; i++) {
      acc += c.probs[i];
      if (acc >= p) return c.truncate(i + 1);
    }
    return;
  }
  const top = c.argmaxAt();
  // Peaked rows (the usual case) reach p within their best few: select those, no pass over buckets.
  if (c.probs[top] * FEW >= p) {
    const best = c.bestPositions(FEW);
    let acc = 0;
    for (let i = 0; i < best.length; i++) {
      acc += c.probs[best[i]];
      if (acc >= p) {
        c.permute(best.subarray(0, i + 1));
        c.sorted = true;
        return renormalize(c);
      }
    }
  }
  nucleusByBuckets(c, p, c.logits[top]);
}

/** A flat row: histogram of (max − logit), then only the bucket holding the cut is sorted. */
function nucleusByBuckets(c: Candidates, p: number, m: number): void {
  const n = c.n;
  const logits = c.logits;
  const probs = c.probs;
  if (bucketOf.length < n) {
    bucketOf = new Uint16Array(n);
    order = new Int32Array(n);
  }
  const bucket = bucketOf;
  mass.fill(0);
  for (let i = 0; i < n; i++) {
    const d = (m - logits[i]) * BUCKETS_PER_UNIT; // ≥ 0; +Infinity for a −Infinity logit
    const b = d < BUCKETS - 1 ? d | 0 : BUCKETS - 1;
    bucket[i] = b;
    mass[b] += probs[i];
  }
  let cut = BUCKETS - 1;
  let before = 0;
  for (let b = 0, acc = 0; b < BUCKETS; b++) {
    if (acc + mass[b] >= p) {
      cut = b;
      before = acc;
      break;
    }
    acc += mass[b];
  }
  // better buckets first (in place order), then the cut bucket's members sorted best first: the
  // members are gathered at the end of `order` and sorted there
  let w = 0;
  let tail = n;
  for (let i = 0; i < n; i++) {
    const b = bucket[i];
    if (b < cut) order[w++] = i;
    else if (b === cut) order[--tail] = i;
  }
  const ids = c.ids;
  const members = order.subarray(tail, n);
  members.sort((i, j) => logits[j] - logits[i] || ids[i] - ids[j]);
  let keep = members.length;
  for (let k = 0, acc = before; k < members.length; k++) {
    acc += probs[members[k]];
    if (acc >= p) {
      keep = k + 1;
      break;
    }
  }
  order.copyWithin(w, tail, tail + keep);
  c.permute(order.subarray(0, w + keep));
  c.sorted = false;
  renormalize(c);
}

function renormalize(c: Candidates): void {
  let s = 0;
  for (let i = 0; i < c.n; i++) s += c.probs[i];
  for (let i = 0; i < c.n; i++) c.probs[i] /= s;
}

/**
 * Keeps tokens whose probability is at least m times the most likely one's: in logit space,
 * logit ≥ max + ln m, so no exponentials are needed.
 */
export function minP(c: Candidates, m: number): void {
  if (m <= 0 || c.n <= 1) return;
  const floor = c.maxLogit() + Math.log(m);
  if (c.sorted) {
    let keep = 1;
    while (keep < c.n && c.logits[keep] >= floor) keep++;
    c.truncate(keep);
  } else {
    c.compact((i) => c.logits[i] >= floor);
  }
}

/** The best live id (no randomness). */
export function greedy(c: Candidates): number {
  return c.ids[c.argmaxAt()];
}

/** Inverse-CDF draw over the live set in its current order, for a uniform u in [0, 1). */
export function draw(c: Candidates, u: number): number {
  c.computeProbs();
  let acc = 0;
  for (let i = 0; i < c.n; i++) {
    acc += c.probs[i];
    if (u < acc) return c.ids[i];
  }
  return c.ids[c.n - 1];
}
