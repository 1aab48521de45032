/**
 * Greedy decoding's argmax: the C kernel (native/src/decode-argmax.c) and its TypeScript twin against
 * the definition (largest non-NaN value, its first index; 0 when all NaN; −1 when empty), on lengths
 * that hit every remainder of the kernel's 16- and 4-wide loops, with the maximum at every position,
 * ties, NaN and infinities; then the greedy sampler's in-place path against the candidate chain.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import {
  argmax,
  argmaxLast,
  argmaxTwin,
  nativeArgmaxActive,
  useNativeArgmax,
} from '../../src/engine/argmax.js';
import { Candidates } from '../../src/engine/candidates.js';
import { greedy } from '../../src/engine/sampler-stages.js';
import { Sampler } from '../../src/engine/sampler.js';
import { noGrad, Rng, slice, Tensor } from '../../src/tensor/index.js';

useBackend('auto');
afterEach(() => useNativeArgmax(true));

/** The definition, in two plain passes. */
function reference(x: Float32Array): number {
  if (x.length === 0) return -1;
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  const i = x.findIndex((v) => v === m);
  return i < 0 ? 0 : i;
}

function randomRow(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.round((rng.uniform() - 0.5) * 8) / 2); // many ties
}

/** Both implementations on `x`, checked against the definition. */
function check(x: Float32Array, what: string): void {
  const want = reference(x);
  expect(argmaxTwin(x), `twin, ${what}`).toBe(want);
  if (nativeArgmaxActive()) expect(argmax(x), `native, ${what}`).toBe(want);
}

describe('argmax: kernel and twin against the definition', () => {
  it('reports whether the native kernel is in use (skips below say so when it is not)', () => {
    expect(typeof nativeArgmaxActive()).toBe('boolean');
  });

  it('every length 0..67 with the maximum at every position (all loop remainders)', () => {
    for (let n = 0; n <= 67; n++) {
      for (let at = 0; at < n; at++) {
        const x = new Float32Array(n).fill(-1);
        x[at] = 2;
        check(x, `n ${n}, max at ${at}`);
        if (at + 1 < n) {
          x[n - 1] = 2; // a tie later: the first wins
          check(x, `n ${n}, tie at ${at} and ${n - 1}`);
        }
      }
      check(new Float32Array(n), `n ${n}, all zero`);
    }
  });

  it('NaN is skipped, infinities count, all-NaN gives 0, empty gives −1', () => {
    const f = (xs: number[]) => Float32Array.from(xs);
    for (const [xs, want] of [
      [[NaN, 1, 3, NaN, 3], 2],
      [[NaN, -Infinity], 1],
      [[-Infinity, -Infinity, -Infinity], 0],
      [[NaN, NaN, NaN], 0],
      [[1, Infinity, NaN, Infinity], 1],
      [[], -1],
      [[-0, 0], 0],
    ] as [number[], number][]) {
      expect(reference(f(xs))).toBe(want);
      check(f(xs), JSON.stringify(xs.map(String)));
    }
    // NaNs in every lane of the vector loops, the maximum in the scalar tail
    for (let n = 1; n <= 40; n++) {
      const x = new Float32Array(n).fill(NaN);
      x[n - 1] = -5;
      check(x, `NaN row of ${n} with a tail value`);
    }
  });

  it('random rows with ties, at odd offsets into their buffers (unaligned views)', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 300);
      const off = Math.floor(rng.uniform() * 7);
      const buf = randomRow(rng, n + off + 3);
      check(buf.subarray(off, off + n), `trial ${trial}`);
    }
  });

  it("a vocabulary-sized row (MiniCPM's 122,753 logits)", () => {
    const rng = new Rng(6);
    const x = Float32Array.from({ length: 122753 }, () => rng.normal());
    check(x, 'random normal row');
    x[122752] = 100;
    check(x, 'max in the last entry');
  });

  it('the native kernel rejects what is not a Float32Array', () => {
    if (!nativeArgmaxActive()) return;
    expect(() => argmax(new Float64Array(3) as unknown as Float32Array)).toThrow(TypeError);
  });
});

describe('greedy sampling reads the row in place', () => {
  it('the in-place pick equals the candidate chain, native kernel and twin alike', () => {
    const rng = new Rng(7);
    for (const native of [true, false]) {
      useNativeArgmax(native);
      for (let trial = 0; trial < 50; trial++) {
        const row = randomRow(rng, 1 + Math.floor(rng.uniform() * 500));
        const c = new Candidates(row.length);
        c.load(row);
        const viaChain = greedy(c);
        expect(new Sampler({ temperature: 0 }).sample(row), `trial ${trial}`).toBe(viaChain);
        expect(new Sampler({ greedy: true }).distribution(row)).toEqual({ ids: [viaChain], probs: [1] });
        expect(viaChain).toBe(reference(row));
      }
    }
  });

  it('penalties still apply before a greedy pick', () => {
    const row = Float32Array.from([1, 5, 4.9]);
    expect(new Sampler({ greedy: true }).sample(row, [1])).toBe(1);
    expect(new Sampler({ greedy: true, presencePenalty: 0.5 }).sample(row, [1])).toBe(2);
  });

  it('argmaxLast picks from the last row of a [B, T, V] tensor, contiguous or a view', () => {
    const rng = new Rng(8);
    const V = 37;
    const data = randomRow(rng, 2 * 3 * V);
    const logits = Tensor.from(data, [2, 3, V]);
    expect(argmaxLast(logits)).toBe(reference(data.subarray(5 * V)));
    const view = noGrad(() => slice(logits, 1, 0, 2)); // [2, 2, V]: not contiguous
    expect(view.isContiguous()).toBe(false);
    expect(argmaxLast(view)).toBe(reference(data.subarray(4 * V, 5 * V)));
    expect(() => argmaxLast(Tensor.from(Int32Array.of(1, 2), [1, 2], 'i32'))).toThrow(TypeError);
  });
});
