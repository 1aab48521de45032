/**
 * Decode attention over a bf16 KV cache (native/src/decode-attention*.c) against a float64 softmax
 * of the same bf16 keys and values, and against the portable flash-decoding path it replaces: shapes
 * that hit every remainder (D of one and several 16-lane blocks, Hq not a multiple of 16, grouped
 * heads, key ranges below, at and past the 64-position split, batches, the 4 × 4 tiles' tails, 1-3
 * threads), the log-sum-exp, large scores, the cases it declines, and its argument checks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { useDecodeAttention } from '../../src/backends/cpu/native-nn.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { attention, bf16ToF32, cast, noGrad, Rng, scope, Tensor } from '../../src/tensor/index.js';

const backend = useBackend('auto');
type Kernel = (...a: unknown[]) => boolean;
const native = loadNativeKernels() as unknown as {
  decodeAttentionBf16?: Kernel;
  features(): { isa: string };
} | null;
const kernel = native?.decodeAttentionBf16;
const avx512 = native?.features().isa === 'avx512';
afterEach(() => useDecodeAttention(true));

interface Case {
  B: number;
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
  spread?: number;
}

function inputs(rng: Rng, c: Case) {
  const spread = c.spread ?? 1;
  const rand = (n: number) => Float32Array.from({ length: n }, () => (rng.uniform() - 0.5) * 2 * spread);
  return noGrad(() => ({
    q: Tensor.from(rand(c.B * c.Hq * c.D), [c.B, 1, c.Hq, c.D]).keep(),
    k: cast(Tensor.from(rand(c.B * c.S * c.Hkv * c.D), [c.B, c.S, c.Hkv, c.D]), 'bf16').keep(),
    v: cast(Tensor.from(rand(c.B * c.S * c.Hkv * c.D), [c.B, c.S, c.Hkv, c.D]), 'bf16').keep(),
  }));
}

/** out [B, Hq, D] and lse [B, Hq] in float64 from the bf16 values themselves. */
function reference(c: Case, q: Tensor, k: Tensor, v: Tensor, scale: number) {
  const qd = q.data as Float32Array;
  const kd = k.data as Uint16Array;
  const vd = v.data as Uint16Array;
  const out = new Float64Array(c.B * c.Hq * c.D);
  const lse = new Float64Array(c.B * c.Hq);
  const group = c.Hq / c.Hkv;
  for (let b = 0; b < c.B; b++)
    for (let h = 0; h < c.Hq; h++) {
      const hk = Math.floor(h / group);
      const s = new Float64Array(c.S);
      for (let p = 0; p < c.S; p++) {
        let d = 0;
        for (let i = 0; i < c.D; i++)
          d += qd[(b * c.Hq + h) * c.D + i] * bf16ToF32(kd[((b * c.S + p) * c.Hkv + hk) * c.D + i]);
        s[p] = d * scale;
      }
      const m = Math.max(...s);
      let l = 0;
      for (let p = 0; p < c.S; p++) l += Math.exp(s[p] - m);
      lse[b * c.Hq + h] = m + Math.log(l);
      for (let p = 0; p < c.S; p++) {
        const w = Math.exp(s[p] - m) / l;
        for (let i = 0; i < c.D; i++)
          out[(b * c.Hq + h) * c.D + i] += w * bf16ToF32(vd[((b * c.S + p) * c.Hkv + hk) * c.D + i]);
      }
    }
  return { out, lse };
}

function runKernel(c: Case, q: Tensor, k: Tensor, v: Tensor, scale: number) {
  const out = new Float32Array(c.B * c.Hq * c.D + 3);
  const lse = new Float32Array(c.B * c.Hq + 2);
  const done = kernel!(
    q.data,
    q.offset,
    k.data,
    k.offset,
    v.data,
    v.offset,
    out,
    3,
    lse,
    2,
    c.B,
    c.S,
    c.Hq,
    c.Hkv,
    c.D,
    scale,
  );
  return { done, out: out.subarray(3), lse: lse.subarray(2) };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(worst, what).toBeLessThan(tol);
}

const CASES: Case[] = [
  { B: 1, S: 1, Hq: 1, Hkv: 1, D: 16 },
  { B: 1, S: 2, Hq: 3, Hkv: 1, D: 32 },
  { B: 1, S: 63, Hq: 17, Hkv: 17, D: 16 },
  { B: 1, S: 64, Hq: 36, Hkv: 36, D: 64 },
  { B: 1, S: 65, Hq: 36, Hkv: 12, D: 64 },
  { B: 1, S: 129, Hq: 5, Hkv: 5, D: 48 },
  { B: 2, S: 300, Hq: 16, Hkv: 4, D: 80 },
  { B: 3, S: 70, Hq: 32, Hkv: 32, D: 128 },
  { B: 1, S: 513, Hq: 36, Hkv: 36, D: 64 },
  { B: 1, S: 200, Hq: 8, Hkv: 2, D: 64, spread: 6 }, // peaked softmax: scores in the tens
  // the 4-position × 4-head key tiles and 4-position value blocks: heads past the last tile (2, 3),
  // positions past the last block (1-3 per key range), D with and without a last block of 16
  { B: 1, S: 7, Hq: 6, Hkv: 3, D: 32 },
  { B: 1, S: 134, Hq: 7, Hkv: 7, D: 48 },
  { B: 1, S: 131, Hq: 12, Hkv: 4, D: 96 },
  { B: 2, S: 9, Hq: 10, Hkv: 5, D: 16 },
];

describe.skipIf(!kernel || !avx512)('decode attention over a bf16 cache (AVX-512 kernel)', () => {
  it('a NaN key turns the outputs of the heads that read it NaN, and only those (as f32 attention does)', () => {
    for (const S of [7, 130]) {
      const c: Case = { B: 1, S, Hq: 6, Hkv: 3, D: 64 };
      const { q, k, v } = inputs(new Rng(S), c);
      (k.data as Uint16Array)[(5 * c.Hkv + 1) * c.D + 3] = 0x7fc0; // position 5, kv head 1: NaN
      const got = runKernel(c, q, k, v, 1 / 8);
      expect(got.done).toBe(true);
      const nanHeads = [...Array(c.Hq).keys()].filter((h) =>
        got.out.subarray(h * c.D, (h + 1) * c.D).every((x) => Number.isNaN(x)),
      );
      expect(nanHeads, `S ${S}`).toEqual([2, 3]);
      expect([0, 1, 4, 5].every((h) => got.out.subarray(h * c.D, (h + 1) * c.D).every(Number.isFinite))).toBe(
        true,
      );
    }
  });

  it.each(CASES)('B $B S $S Hq $Hq Hkv $Hkv D $D against a float64 softmax', (c) => {
    const rng = new Rng(c.S * 131 + c.Hq * 7 + c.D);
    const { q, k, v } = inputs(rng, c);
    const scale = 1 / Math.sqrt(c.D);
    const want = reference(c, q, k, v, scale);
    const got = runKernel(c, q, k, v, scale);
    expect(got.done).toBe(true);
    expectClose(got.out, want.out, 2e-5, 'out');
    expectClose(got.lse, want.lse, 2e-5, 'lse');
    // the portable path agrees as closely; through the op, either way
    for (const on of [true, false]) {
      useDecodeAttention(on);
      const o = noGrad(() =>
        scope(() => {
          const y = attention(q, k, v, { causal: true, qOffset: c.S - 1 });
          return Float32Array.from(y.data.subarray(y.offset, y.offset + y.size) as Float32Array);
        }),
      );
      expectClose(o, want.out, 2e-5, on ? 'op, decode kernel' : 'op, portable path');
    }
    [q, k, v].forEach((t) => t.dispose());
  });

  it.each([1, 2, 3])('%i threads: the same answer for every split of the keys', (threads) => {
    const pool = native as unknown as { getThreads(): number; setThreads(n: number): void };
    const threads0 = pool.getThreads();
    try {
      pool.setThreads(threads);
      for (const c of [
        { B: 1, S: 130, Hq: 36, Hkv: 36, D: 64 },
        { B: 1, S: 195, Hq: 9, Hkv: 3, D: 80 },
        { B: 2, S: 257, Hq: 5, Hkv: 1, D: 128 },
      ]) {
        const { q, k, v } = inputs(new Rng(c.S + threads), c);
        const scale = 1 / Math.sqrt(c.D);
        const want = reference(c, q, k, v, scale);
        const got = runKernel(c, q, k, v, scale);
        expect(got.done).toBe(true);
        expectClose(got.out, want.out, 2e-5, `out ${JSON.stringify(c)}`);
        expectClose(got.lse, want.lse, 2e-5, `lse ${JSON.stringify(c)}`);
        [q, k, v].forEach((t) => t.dispose());
      }
    } finally {
      pool.setThreads(threads0);
    }
  });

  it('declines what it does not cover (D not a multiple of 16, Hq not a multiple of Hkv, S = 0)', () => {
    const rng = new Rng(9);
    for (const c of [
      { B: 1, S: 10, Hq: 2, Hkv: 2, D: 8 },
      { B: 1, S: 10, Hq: 3, Hkv: 2, D: 16 },
      { B: 1, S: 0, Hq: 2, Hkv: 2, D: 16 },
    ]) {
      const { q, k, v } = inputs(rng, c);
      expect(runKernel(c, q, k, v, 0.5).done, JSON.stringify(c)).toBe(false);
    }
    // the op still answers through the portable path (D = 8)
    const c = { B: 1, S: 10, Hq: 2, Hkv: 2, D: 8 };
    const { q, k, v } = inputs(rng, c);
    const want = reference(c, q, k, v, 1 / Math.sqrt(8));
    const o = noGrad(() => scope(() => attention(q, k, v, { causal: true, qOffset: 9 }).toArray()));
    expectClose(o, want.out, 2e-5, 'D 8 through the op');
  });

  it('a causal row that cannot see every key is left to the portable path (same answer as S keys)', () => {
    const c = { B: 1, S: 100, Hq: 4, Hkv: 4, D: 16 };
    const { q, k, v } = inputs(new Rng(10), c);
    // qOffset 49: the query sees keys 0..49 only
    const want = reference({ ...c, S: 50 }, q, sliceKeys(k, c, 50), sliceKeys(v, c, 50), 0.25);
    const o = noGrad(() => scope(() => attention(q, k, v, { causal: true, qOffset: 49 }).toArray()));
    expectClose(o, want.out, 2e-5, 'causal prefix');
  });

  it('checks its arguments: typed array kinds and windows', () => {
    const c = { B: 1, S: 4, Hq: 2, Hkv: 2, D: 16 };
    const { q, k, v } = inputs(new Rng(11), c);
    const out = new Float32Array(32);
    const lse = new Float32Array(2);
    const call = (...over: [number, unknown][]) => {
      const a: unknown[] = [q.data, 0, k.data, 0, v.data, 0, out, 0, lse, 0, 1, 4, 2, 2, 16, 0.25];
      for (const [i, x] of over) a[i] = x;
      return () => kernel!(...a);
    };
    expect(call()()).toBe(true);
    expect(call([2, new Float32Array(128)])).toThrow(TypeError);
    expect(call([11, 5])).toThrow(/k needs 160 elements/);
    expect(call([7, 1])).toThrow(RangeError);
    expect(call([10, -1])).toThrow(RangeError);
  });
});

/** The first `n` positions of a [B, S, H, D] bf16 cache as its own tensor. */
function sliceKeys(t: Tensor, c: Case, n: number): Tensor {
  const per = c.Hkv * c.D;
  const d = t.data as Uint16Array;
  const out = new Uint16Array(c.B * n * per);
  for (let b = 0; b < c.B; b++) out.set(d.subarray(b * c.S * per, b * c.S * per + n * per), b * n * per);
  return Tensor.from(out, [c.B, n, c.Hkv, c.D], 'bf16');
}

it('reports the backend these tests ran on', () => {
  expect(backend.name).toMatch(/cpu-/);
});
