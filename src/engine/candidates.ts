/**
 * The candidate set a sampler chain narrows (llama.cpp's token-data array): parallel id / logit /
 * probability arrays whose first `n` entries are live, and whether those are sorted best first.
 * Buffers are sized once to the vocabulary and reused for every token, so a step allocates nothing
 * proportional to the vocabulary.
 *
 * "Better" is one total order everywhere: the higher logit, ties to the lower id. Selection (top-k),
 * the nucleus cut (top-p) and sorting all use it, so results never depend on a sort's stability.
 */
import type { NnKernels } from '../backends/kernels.js';
import { loadNativeKernels } from '../backends/kernels-native.js';
import { getBackend, noGrad, scope, softmax, Tensor } from '../tensor/index.js';
import { argmax } from './argmax.js';
import { sampleKernels } from './sample-kernels.js';

/** Above this many live entries probabilities come from the tensor softmax (the C kernel). */
const NATIVE_SOFTMAX_MIN = 4096;
/** top-k by a bounded heap up to this k (one comparison per rejected entry); quickselect above it. */
const HEAP_MAX_K = 4096;

type SoftmaxKernel = NnKernels['softmaxFwd'];

/**
 * The addon's softmax when the native backend is the one installed (so probabilities are what
 * `softmax` would give, bit for bit, without a tensor and two copies of the row); null otherwise.
 */
function nativeSoftmax(): SoftmaxKernel | null {
  if (!getBackend().name.startsWith('cpu-native')) return null;
  return (loadNativeKernels() as { softmaxFwd?: SoftmaxKernel } | null)?.softmaxFwd ?? null;
}

export class Candidates {
  readonly ids: Int32Array;
  readonly logits: Float32Array;
  readonly probs: Float32Array;
  /** Scratch space for selection and sorting (same capacity). */
  private readonly tmpIds: Int32Array;
  private readonly tmpLogits: Float32Array;
  private readonly tmpProbs: Float32Array;
  /** 0, 1, 2, …: copied over ids to reset them (a memcpy, not a loop). */
  private readonly iota: Int32Array;
  /** Live entries: a prefix of the arrays. */
  n = 0;
  /** The live entries are in "better" order. */
  sorted = false;
  /** probs[0, n) hold the softmax of logits[0, n) (normalised over the live set). */
  probsValid = false;
  /** ids[i] === i for every i (false once a stage moved entries), so loading skips refilling ids. */
  private identity = false;

  constructor(readonly capacity: number) {
    this.ids = new Int32Array(capacity);
    this.logits = new Float32Array(capacity);
    this.probs = new Float32Array(capacity);
    this.tmpIds = new Int32Array(capacity);
    this.tmpLogits = new Float32Array(capacity);
    this.tmpProbs = new Float32Array(capacity);
    this.iota = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.iota[i] = i;
  }

  /** Makes every id of `row` a candidate (unsorted, no probabilities yet). */
  load(row: Float32Array): void {
    if (row.length > this.capacity)
      throw new RangeError(`a row of ${row.length} logits does not fit ${this.capacity} candidates`);
    this.logits.set(row);
    if (!this.identity || this.n !== row.length) {
      this.ids.set(this.iota.subarray(0, row.length));
      this.identity = true;
    }
    this.n = row.length;
    this.sorted = false;
    this.probsValid = false;
  }

  /** Entry i ranks before entry j. */
  better(i: number, j: number): boolean {
    const a = this.logits[i];
    const b = this.logits[j];
    return a > b || (a === b && this.ids[i] < this.ids[j]);
  }

  /** Position of the best live entry. */
  argmaxAt(): number {
    if (this.sorted) return 0;
    const l = this.logits;
    const ids = this.ids;
    const n = this.n;
    // ids ascend with position: the first maximum is the lowest id (native/src/decode-argmax.c)
    if (this.identity) return Math.max(0, argmax(l.subarray(0, n)));
    let best = 0;
    let bv = l[0];
    for (let i = 1; i < n; i++) {
      const v = l[i];
      if (v > bv) {
        bv = v;
        best = i;
      } else if (v === bv && ids[i] < ids[best]) best = i;
    }
    return best;
  }

  maxLogit(): number {
    return this.logits[this.argmaxAt()];
  }

  /** Keeps the k best entries (in no particular order unless already sorted). */
  keepTopK(k: number): void {
    if (k >= this.n) return;
    if (!this.sorted) {
      const K = k <= HEAP_MAX_K ? sampleKernels() : null;
      if (K) K.sampleHeapTopK(this.ids, this.logits, this.n, k, this.tmpIds, this.tmpLogits);
      else if (k <= HEAP_MAX_K) this.heapSelect(k);
      else this.quickselect(k);
      this.identity = false;
    }
    this.n = k;
    this.probsValid = false;
  }

  /**
   * Positions of the k best live entries, best first, without moving anything (a bounded heap of
   * positions; one comparison per entry that does not enter it).
   */
  bestPositions(k: number): Int32Array {
    k = Math.min(k, this.n);
    const l = this.logits;
    const ids = this.ids;
    const h = new Int32Array(k);
    const K = sampleKernels();
    if (K) {
      K.sampleBestPositions(ids, l, this.n, k, h);
      return h;
    }
    // worse(a, b): position a ranks after position b
    const worse = (a: number, b: number) => l[a] < l[b] || (l[a] === l[b] && ids[a] > ids[b]);
    const siftDown = (i: number) => {
      for (;;) {
        const c1 = 2 * i + 1;
        if (c1 >= k) return;
        const c = c1 + 1 < k && worse(h[c1 + 1], h[c1]) ? c1 + 1 : c1;
        if (!worse(h[c], h[i])) return;
        const t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
      }
    };
    for (let i = 0; i < k; i++) h[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
    // most entries lose to the root on the logit alone: one float comparison, no call
    let floor = l[h[0]];
    const n = this.n;
    for (let i = k; i < n; i++) {
      if (l[i] < floor || !worse(h[0], i)) continue;
      h[0] = i;
      siftDown(0);
      floor = l[h[0]];
    }
    return h.sort((a, b) => l[b] - l[a] || ids[a] - ids[b]);
  }

  /** Sorts the live entries best first. */
  sort(): void {
    if (this.sorted) return;
    const n = this.n;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const l = this.logits;
    const ids = this.ids;
    order.sort((a, b) => l[b] - l[a] || ids[a] - ids[b]);
    this.permute(order);
    this.sorted = true;
  }

  /** Reorders live entries so that position i holds old position order[i] (probabilities follow). */
  permute(order: Int32Array): void {
    const n = order.length;
    for (let i = 0; i < n; i++) {
      this.tmpIds[i] = this.ids[order[i]];
      this.tmpLogits[i] = this.logits[order[i]];
    }
    this.ids.set(this.tmpIds.subarray(0, n));
    this.logits.set(this.tmpLogits.subarray(0, n));
    if (this.probsValid) {
      const p = this.tmpProbs;
      for (let i = 0; i < n; i++) p[i] = this.probs[order[i]];
      this.probs.set(p.subarray(0, n));
    }
    this.n = n;
    this.identity = false;
  }

  /** Keeps positions whose `keep` is true, preserving their order (and so sortedness). */
  compact(keep: (i: number) => boolean): void {
    let w = 0;
    for (let i = 0; i < this.n; i++) {
      if (!keep(i)) continue;
      if (w !== i) {
        this.ids[w] = this.ids[i];
        this.logits[w] = this.logits[i];
        this.probs[w] = this.probs[i];
        this.identity = false;
      }
      w++;
    }
    this.n = w;
    if (this.probsValid) this.renormalize();
  }

  /**
   * Keeps entries whose logit is at least `floor` (min-p's cut), preserving their order; the C pass
   * where built, else `compact` (its twin).
   */
  keepAtLeast(floor: number): void {
    const K = sampleKernels();
    if (!K) return this.compact((i) => this.logits[i] >= floor);
    const w = K.sampleKeepAtLeast(this.ids, this.logits, this.probs, this.n, floor, this.probsValid);
    if (w !== this.n) this.identity = false;
    this.n = w;
  }

  /**
   * A stage rewrote the first `n` entries in place (ids, logits and probabilities moved together):
   * they are the live set now, in no particular order.
   */
  keepPrefix(n: number): void {
    this.n = n;
    this.sorted = false;
    this.identity = false;
  }

  /** Drops entries past `n` (a cut of a sorted prefix). */
  truncate(n: number): void {
    if (n >= this.n) return;
    this.n = n;
    if (this.probsValid) this.renormalize();
  }

  /** Fills probs with the softmax of the live logits. */
  computeProbs(): void {
    if (this.probsValid) return;
    const n = this.n;
    const kernel = n >= NATIVE_SOFTMAX_MIN ? nativeSoftmax() : null;
    if (kernel) {
      // the kernel the native backend's softmax calls, straight between the buffers (no copies)
      kernel(this.logits, 0, this.probs, 0, 1, n, 0);
    } else if (n >= NATIVE_SOFTMAX_MIN) {
      const p = noGrad(() =>
        scope(() => {
          const y = softmax(Tensor.from(this.logits.subarray(0, n), [1, n]));
          return (y.data as Float32Array).subarray(y.offset, y.offset + n).slice();
        }),
      );
      this.probs.set(p);
    } else {
      const m = this.maxLogit();
      let s = 0;
      for (let i = 0; i < n; i++) s += this.probs[i] = Math.exp(this.logits[i] - m);
      for (let i = 0; i < n; i++) this.probs[i] /= s;
    }
    this.probsValid = true;
  }

  /** Divides the live probabilities by their sum (after a cut). */
  private renormalize(): void {
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.probs[i];
    for (let i = 0; i < this.n; i++) this.probs[i] /= s;
  }

  /**
   * Bounded min-heap of the k best seen so far, worst at the root: each remaining entry costs one
   * comparison with the root unless it displaces it. O(n + k log k · hits).
   */
  private heapSelect(k: number): void {
    const hIds = this.tmpIds;
    const hL = this.tmpLogits;
    // root-worst ordering: "worse(a, b)" = b is better than a
    const worse = (a: number, b: number) => hL[a] < hL[b] || (hL[a] === hL[b] && hIds[a] > hIds[b]);
    const siftDown = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        if (l >= k) return;
        const r = l + 1;
        const c = r < k && worse(r, l) ? r : l;
        if (!worse(c, i)) return;
        const ti = hIds[i];
        const tl = hL[i];
        hIds[i] = hIds[c];
        hL[i] = hL[c];
        hIds[c] = ti;
        hL[c] = tl;
        i = c;
      }
    };
    for (let i = 0; i < k; i++) {
      hIds[i] = this.ids[i];
      hL[i] = this.logits[i];
    }
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
    const ids = this.ids;
    const l = this.logits;
    for (let i = k; i < this.n; i++) {
      const v = l[i];
      if (v < hL[0] || (v === hL[0] && ids[i] > hIds[0])) continue;
      hIds[0] = ids[i];
      hL[0] = v;
      siftDown(0);
    }
    ids.set(hIds.subarray(0, k));
    l.set(hL.subarray(0, k));
  }

  /** In-place selection (Hoare partitions, median-of-three pivots): the k best end up in [0, k). */
  private quickselect(k: number): void {
    const ids = this.ids;
    const l = this.logits;
    const swap = (i: number, j: number) => {
      const ti = ids[i];
      const tl = l[i];
      ids[i] = ids[j];
      l[i] = l[j];
      ids[j] = ti;
      l[j] = tl;
    };
    let lo = 0;
    let hi = this.n - 1;
    while (hi > lo) {
      const mid = (lo + hi) >>> 1;
      // median of three moved to lo as the pivot
      if (this.better(mid, lo)) swap(mid, lo);
      if (this.better(hi, lo)) swap(hi, lo);
      if (this.better(hi, mid)) swap(hi, mid);
      swap(lo, mid); // now lo holds the median
      const pl = l[lo];
      const pid = ids[lo];
      const before = (i: number) => l[i] > pl || (l[i] === pl && ids[i] < pid);
      let i = lo + 1;
      let j = hi;
      for (;;) {
        while (i <= j && before(i)) i++;
        while (i <= j && !before(j)) j--;
        if (i >= j) break;
        swap(i, j);
        i++;
        j--;
      }
      // [lo+1, i) are better than the pivot, [i, hi] are not; put the pivot at i-1
      swap(lo, i - 1);
      const p = i - 1;
      if (p === k - 1 || p === k) return;
      if (p > k) hi = p - 1;
      else lo = p + 1;
    }
  }
}
