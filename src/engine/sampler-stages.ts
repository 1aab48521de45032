/**
 * The stages of a sampler chain, each a function over a Candidates set (llama.cpp's design; the
 * semantics of each stage are Hugging Face's / vLLM's). Stages narrow or reshape the set; `draw` and
 * `greedy` pick. Only top-p needs order, and it sorts no more than the one probability bucket its cut
 * falls in; everything else is a linear pass.
 */
import { loadNativeKernels } from '../backends/kernels-native.js';
import type { Candidates } from './candidates.js';
import { sampleKernels } from './sample-kernels.js';

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
  const K = sampleKernels();
  if (K) {
    K.sampleScale(c.logits, c.n, inv);
    c.probsValid = false;
    return;
  }
  // locals, not c.n / c.logits per entry: the loop runs over up to the whole vocabulary
  const l = c.logits;
  const n = c.n;
  for (let i = 0; i < n; i++) l[i] *= inv;
  c.probsValid = false;
}

/** Keeps the k most likely tokens (k ≤ 0 keeps all). Commutes with temperature. */
export function topK(c: Candidates, k: number): void {
  if (k > 0) c.keepTopK(k);
}

/**
 * Buckets of the nucleus histogram; the last one is open-ended. Their width spreads the row's logit
 * range over them (at least 16 per logit unit, so a peaked row does not put its bulk in the last one),
 * so the bucket the cut falls in — the only one sorted — holds few entries even on flat rows.
 */
const BUCKETS = 1024;
const MAX_PER_UNIT = 16;
/** Below this many live entries top-p simply sorts. */
const SORT_MAX = 1024;
/** How many of the best entries top-p tries before it falls back to the histogram. */
const FEW = 64;

/** Scratch of the histogram pass, grown to the largest row seen and reused (no per-token allocation). */
let bucketOf = new Uint16Array(0);
let order = new Int32Array(0);
let cutIds = new Int32Array(0);
let cutLogits = new Float32Array(0);
let cutProbs = new Float32Array(0);
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

type NucleusSplit = (
  n: number,
  m: number,
  p: number,
  ids: Int32Array,
  logits: Float32Array,
  probs: Float32Array,
  bucket: Uint16Array,
  cutIds: Int32Array,
  cutLogits: Float32Array,
  cutProbs: Float32Array,
  out: Float64Array,
) => void;

/** The native passes (native/src/nucleus.c): undefined until first use, null without the addon. */
let nativeSplit: NucleusSplit | null | undefined;
const splitOut = new Float64Array(3);

/** Tests: run the TypeScript passes (false) or the native ones where built (true, the default). */
export function useNativeNucleus(on: boolean): void {
  nativeSplit = on ? undefined : null;
}

/**
 * The linear passes (the twin of native/src/nucleus.c, which must keep its arithmetic): a histogram
 * of (max − logit) weighted by probability finds the bucket the cut falls in; entries of better
 * buckets are compacted in place (in place order) and the cut bucket's are copied to cut*.
 * Returns [kept, cut bucket entries, mass of the better buckets].
 */
function splitTwin(c: Candidates, p: number, m: number): [number, number, number] {
  const n = c.n;
  const { ids, logits, probs } = c;
  const bucket = bucketOf;
  let lo = m;
  for (let i = 0; i < n; i++) {
    const l = logits[i];
    if (l < lo && l > -Infinity) lo = l;
  }
  // any positive scale gives the same result (buckets only order the work); this one fills them
  const perUnit = m > lo ? Math.max(MAX_PER_UNIT, (BUCKETS - 1) / (m - lo)) : MAX_PER_UNIT;
  mass.fill(0);
  for (let i = 0; i < n; i++) {
    const d = (m - logits[i]) * perUnit; // ≥ 0; +Infinity for a −Infinity logit
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
  let w = 0;
  let nm = 0;
  for (let i = 0; i < n; i++) {
    const b = bucket[i];
    if (b < cut) {
      ids[w] = ids[i];
      logits[w] = logits[i];
      probs[w] = probs[i];
      w++;
    } else if (b === cut) {
      cutIds[nm] = ids[i];
      cutLogits[nm] = logits[i];
      cutProbs[nm] = probs[i];
      nm++;
    }
  }
  return [w, nm, before];
}

/**
 * A flat row: better buckets kept in place order, then the cut bucket's members sorted best first,
 * as many as reach p.
 */
function nucleusByBuckets(c: Candidates, p: number, m: number): void {
  const n = c.n;
  if (bucketOf.length < n) {
    bucketOf = new Uint16Array(n);
    order = new Int32Array(n);
    cutIds = new Int32Array(n);
    cutLogits = new Float32Array(n);
    cutProbs = new Float32Array(n);
  }
  if (nativeSplit === undefined)
    nativeSplit = (loadNativeKernels() as { nucleusSplit?: NucleusSplit } | null)?.nucleusSplit ?? null;
  let w: number;
  let nm: number;
  let before: number;
  if (nativeSplit) {
    nativeSplit(n, m, p, c.ids, c.logits, c.probs, bucketOf, cutIds, cutLogits, cutProbs, splitOut);
    w = splitOut[0];
    nm = splitOut[1];
    before = splitOut[2];
  } else [w, nm, before] = splitTwin(c, p, m);
  const { ids, logits, probs } = c;
  for (let k = 0; k < nm; k++) order[k] = k;
  const members = order.subarray(0, nm);
  members.sort((i, j) => cutLogits[j] - cutLogits[i] || cutIds[i] - cutIds[j]);
  for (let k = 0, acc = before; k < nm; k++) {
    const at = members[k];
    ids[w] = cutIds[at];
    logits[w] = cutLogits[at];
    probs[w] = cutProbs[at];
    w++;
    acc += cutProbs[at];
    if (acc >= p) break;
  }
  c.keepPrefix(w);
  renormalize(c);
}

/**
 * Divides the live probabilities by their sum: four partial sums (no single chain of dependent adds)
 * and one reciprocal (a multiply per entry instead of a divide) — rounding-level differences only, on a
 * pass over up to the whole vocabulary after a flat row's nucleus.
 */
function renormalize(c: Candidates): void {
  const probs = c.probs;
  const n = c.n;
  const K = sampleKernels();
  if (K) return K.sampleRenormalize4(probs, n);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += probs[i];
    s1 += probs[i + 1];
    s2 += probs[i + 2];
    s3 += probs[i + 3];
  }
  for (; i < n; i++) s0 += probs[i];
  const inv = 1 / (s0 + s1 + (s2 + s3));
  for (let j = 0; j < n; j++) probs[j] *= inv;
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
    c.keepAtLeast(floor);
  }
}

/** The best live id (no randomness). */
export function greedy(c: Candidates): number {
  return c.ids[c.argmaxAt()];
}

/** Inverse-CDF draw over the live set in its current order, for a uniform u in [0, 1). */
export function draw(c: Candidates, u: number): number {
  c.computeProbs();
  const K = sampleKernels();
  if (K && c.n > 0) return K.sampleDraw(c.ids, c.probs, c.n, u);
  let acc = 0;
  for (let i = 0; i < c.n; i++) {
    acc += c.probs[i];
    if (u < acc) return c.ids[i];
  }
  return c.ids[c.n - 1];
}
