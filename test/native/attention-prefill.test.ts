/**
 * Prefill attention (native/src/attention-prefill-avx512.c, entered for T > 1 on AVX-512) against its
 * TypeScript twin, the reference loops of src/backends/cpu/attention.ts: outputs and log-sum-exps, with
 * f32 and bf16 keys/values read in place. Shapes hit every remainder of the kernel: fewer rows than a
 * register tile (6) and odd counts past it, key counts around the 64-key tile (a row group's last tile
 * holds 1 to 4 16-key vectors: T = 129 causal walks them all), head dims below, at and
 * past a vector and a 64-column tile, GQA ratios, batch entries, a cache offset (prefill after earlier
 * positions, some keys hidden), non-causal, and thread counts that split a head's rows (fewer kv heads
 * than threads) or not. The AVX2 and scalar paths (the GEMM-blocked loop) are checked on the same cases.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { attention } from '../../src/backends/cpu/attention.js';
import { KernelMemoryError } from '../../src/backends/kernel-errors.js';
import type { NnKernels } from '../../src/backends/kernels.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { bf16ToF32, f32ToBf16, Rng, Tensor } from '../../src/tensor/index.js';

const addon = loadNativeKernels();
/** The addon carries the NN kernels next to the GEMMs (backends/index.ts picks them off it the same way). */
const nn = addon as unknown as NnKernels;
const isa = addon?.features().isa;
const threads0 = addon?.getThreads();

type Case = [
  B: number,
  T: number,
  S: number,
  Hq: number,
  Hkv: number,
  D: number,
  qoff: number,
  causal: boolean,
];

const CASES: Case[] = [
  [1, 2, 2, 1, 1, 4, 0, true], // fewer rows than a tile, one vector partly used
  [1, 5, 5, 2, 2, 16, 0, true],
  [1, 6, 6, 3, 1, 64, 0, true], // one full tile, GQA 3:1
  [2, 7, 7, 4, 2, 8, 0, true], // a tile and one row, batch 2
  [1, 13, 20, 2, 1, 20, 7, true], // over a cache: qoff 7, odd rows and keys
  [1, 17, 30, 2, 2, 33, 5, true], // keys past qoff + T stay hidden
  [1, 40, 40, 2, 1, 64, 0, true], // enough work for the pool; rows split over threads
  [1, 70, 70, 4, 4, 72, 0, true], // past 64 keys and 64 columns: a second tile of each
  [2, 65, 65, 6, 2, 64, 0, true], // 65 keys: the second key tile holds one
  [1, 37, 130, 3, 3, 130, 93, true], // head dim past two 64-column tiles
  [1, 9, 23, 2, 1, 17, 0, false], // non-causal: every row sees every key
  [2, 64, 64, 8, 8, 64, 0, false],
  [1, 129, 129, 2, 1, 64, 0, true], // more rows than 2 × 64: the round-robin split's last group
];

function normals(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let scale = 1;
  for (const w of want) if (Number.isFinite(w)) scale = Math.max(scale, Math.abs(w));
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(want[i])) expect(got[i]).toBe(want[i]);
    else err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  return err / scale;
}

/**
 * Native forward (f32 or bf16 k/v) vs the reference over the values the kernel sees; `nanKey` puts a
 * NaN at that index of k (the rows that see it must come out NaN, the others as usual).
 */
function check(c: Case, bf16: boolean, rng: Rng, nanKey?: number): void {
  const [B, T, S, Hq, Hkv, D, qOffset, causal] = c;
  const scale = 1 / Math.sqrt(D);
  const q = normals(rng, B * T * Hq * D);
  let k = normals(rng, B * S * Hkv * D, 2);
  if (nanKey !== undefined) k[nanKey] = NaN;
  let v = normals(rng, B * S * Hkv * D);
  const out = new Float32Array(B * T * Hq * D);
  const lse = new Float32Array(B * Hq * T);
  if (bf16) {
    const k16 = Uint16Array.from(k, f32ToBf16);
    const v16 = Uint16Array.from(v, f32ToBf16);
    nn.attentionFwdBf16Kv(
      q,
      0,
      k16,
      0,
      v16,
      0,
      out,
      0,
      lse,
      0,
      B,
      T,
      S,
      Hq,
      Hkv,
      D,
      qOffset,
      causal ? 1 : 0,
      scale,
    );
    k = Float32Array.from(k16, bf16ToF32);
    v = Float32Array.from(v16, bf16ToF32);
  } else
    nn.attentionFwd(q, 0, k, 0, v, 0, out, 0, lse, 0, B, T, S, Hq, Hkv, D, qOffset, causal ? 1 : 0, scale);
  const want = attention(
    Tensor.from(q, [B, T, Hq, D]),
    Tensor.from(k, [B, S, Hkv, D]),
    Tensor.from(v, [B, S, Hkv, D]),
    null,
    { causal, qOffset, scale },
  );
  const what = `${c.join(',')} ${bf16 ? 'bf16' : 'f32'} kv`;
  expect(maxRelErr(out, want.out.data as Float32Array), `${what}: output`).toBeLessThan(2e-5);
  expect(maxRelErr(lse, want.lse.data as Float32Array), `${what}: lse`).toBeLessThan(2e-5);
  want.out.dispose();
  want.lse.dispose();
}

const paths = (['avx512', 'avx2', 'scalar'] as const).filter((p) => addon?.setIsa(p));
if (addon && isa) addon.setIsa(isa);

describe.skipIf(!addon)('prefill attention matches the reference loops', () => {
  afterAll(() => {
    if (isa) addon?.setIsa(isa);
    if (threads0) addon?.setThreads(threads0);
  });
  for (const path of paths)
    for (const threads of [1, 2, 3])
      it(`${path}, ${threads} thread(s): f32 and bf16 k/v over every remainder`, () => {
        addon!.setIsa(path);
        addon!.setThreads(threads);
        const rng = new Rng(17 + threads);
        for (const c of CASES) {
          check(c, false, rng);
          check(c, true, rng);
        }
      });
  for (const path of paths)
    it(`${path}: a NaN key reaches exactly the outputs that attend to it`, () => {
      addon!.setIsa(path);
      addon!.setThreads(2);
      const rng = new Rng(5);
      // key position 3, kv head 0, element 1: causal rows from position 3 on see it, non-causal all
      for (const c of [CASES[4], CASES[7], CASES[10]]) {
        const [, , , , Hkv, D] = c;
        for (const bf16 of [false, true]) check(c, bf16, rng, (3 * Hkv + 0) * D + 1);
      }
    });

  it.skipIf(!paths.includes('avx512'))('scratch that cannot grow is reported as the kernel failing', () => {
    // 8,192 keys of 64: the packed head alone needs 4 MiB, more than any earlier call grew the scratch to
    const [T, S, D] = [2, 8192, 64];
    const q = new Float32Array(T * D);
    const kv = new Uint16Array(S * D);
    const run = () =>
      nn.attentionFwdBf16Kv(
        q,
        0,
        kv,
        0,
        kv,
        0,
        new Float32Array(T * D),
        0,
        new Float32Array(T),
        0,
        1,
        T,
        S,
        1,
        1,
        D,
        S - T,
        1,
        0.125,
      );
    addon!.setIsa('avx512');
    addon!.testAllocLimit(1 << 20);
    try {
      expect(run).toThrow(KernelMemoryError);
      expect(run).toThrow(/attentionFwdBf16Kv/);
    } finally {
      addon!.testAllocLimit(0);
    }
    run();
  });
});
