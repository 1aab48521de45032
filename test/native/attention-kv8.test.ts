/**
 * The int8 KV cache kernels (native/src/attention-kv8*.c) against their TypeScript twin
 * (src/backends/kernels-ref-kv8.ts): quantization bit for bit, attention within f32 accumulation error,
 * on every native code path (AVX-512 widening, AVX2, the portable C) and on shapes that hit every
 * remainder: head dims below, at and past a 16-lane vector, odd lengths, GQA ratios 1–4, batch entries
 * `cap` positions apart, decode with hidden keys, split key ranges, prefill and non-causal.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { hasKv8Kernels, type Kv8Kernels } from '../../src/backends/kernels-kv8.js';
import { refKv8Kernels } from '../../src/backends/kernels-ref-kv8.js';
import { Rng } from '../../src/tensor/index.js';
import { wasmKernels } from '../../src/backends/index.js';

const addon = loadNativeKernels();
const native = hasKv8Kernels(addon) ? addon : null;
const isa = (addon as { features?: () => { isa: string } } | null)?.features?.().isa;
const setIsa = (name: string) => (addon as unknown as { setIsa(i: string): boolean }).setIsa(name);

function normals(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Quantizes `rows` rows of D with both kernels; returns the native result after checking equality. */
function quantizeBoth(k: Kv8Kernels, x: Float32Array, rows: number, D: number) {
  const got = { codes: new Int8Array(rows * D + 3), scales: new Float32Array(rows + 2) };
  const want = { codes: new Int8Array(rows * D + 3), scales: new Float32Array(rows + 2) };
  k.kv8Quantize(x, 1, rows, D, got.codes, 3, got.scales, 2);
  refKv8Kernels.kv8Quantize(x, 1, rows, D, want.codes, 3, want.scales, 2);
  expect(Array.from(got.codes)).toEqual(Array.from(want.codes));
  expect(Array.from(got.scales)).toEqual(Array.from(want.scales));
  return got;
}

type Shape = [
  B: number,
  T: number,
  S: number,
  cap: number,
  Hq: number,
  Hkv: number,
  D: number,
  qOff: number,
  causal: number,
];

/** [out, lse] of the native kernel and of the twin on one random cache; `poison` may edit the key scales. */
function attentionRuns(
  k: Kv8Kernels,
  rng: Rng,
  [B, T, S, cap, Hq, Hkv, D, qOff, causal]: Shape,
  keyScale = 2,
  poison?: (keyScales: Float32Array) => void,
): [Float32Array[], Float32Array[]] {
  const rowsKv = B * cap * Hkv;
  const kc = new Int8Array(rowsKv * D);
  const vc = new Int8Array(rowsKv * D);
  const ks = new Float32Array(rowsKv);
  const vs = new Float32Array(rowsKv);
  k.kv8Quantize(normals(rng, rowsKv * D, keyScale), 0, rowsKv, D, kc, 0, ks, 0);
  k.kv8Quantize(normals(rng, rowsKv * D), 0, rowsKv, D, vc, 0, vs, 0);
  poison?.(ks);
  const q = normals(rng, B * T * Hq * D);
  const run = (kern: Kv8Kernels) => {
    const out = new Float32Array(B * T * Hq * D);
    const lse = new Float32Array(B * Hq * T);
    kern.attentionFwdKv8(
      q,
      0,
      kc,
      0,
      ks,
      0,
      vc,
      0,
      vs,
      0,
      cap,
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
      qOff,
      causal,
      1 / Math.sqrt(D),
    );
    return [out, lse];
  };
  return [run(k), run(refKv8Kernels)];
}

function attentionBoth(k: Kv8Kernels, rng: Rng, shape: Shape, keyScale = 2): number {
  const [[go, gl], [wo, wl]] = attentionRuns(k, rng, shape, keyScale);
  // relative to the largest magnitude of each output (outputs near zero carry absolute error)
  const rel = (g: Float32Array, w: Float32Array) => {
    let err = 0;
    let top = 1e-6;
    for (let i = 0; i < w.length; i++) {
      err = Math.max(err, Math.abs(g[i] - w[i]));
      top = Math.max(top, Math.abs(w[i]));
    }
    return err / top;
  };
  return Math.max(rel(go, wo), rel(gl, wl));
}

const SHAPES: Shape[] = [
  [1, 1, 1, 1, 1, 1, 4, 0, 1], // one key
  [1, 1, 37, 37, 6, 3, 16, 36, 1], // exactly one vector per head, GQA 2
  [1, 1, 37, 40, 6, 2, 17, 36, 1], // one lane past the vector, GQA 3
  [2, 1, 301, 320, 4, 4, 8, 300, 1], // half a vector, MHA, batch entries cap apart
  [1, 1, 700, 700, 8, 2, 64, 450, 1], // keys split over threads, some hidden, GQA 4
  [2, 1, 129, 130, 9, 3, 80, 128, 1], // D = 5 vectors, odd head count
  [2, 1, 131, 140, 5, 5, 64, 130, 1], // MHA, D = 4 vectors: a block of 4 heads and one more, 131 keys (4k + 3)
  [1, 1, 33, 33, 2, 1, 33, 0, 0], // non-causal decode over all keys
  [1, 5, 12, 16, 4, 2, 20, 7, 1], // prefill over a cache: dequantized, then the f32 path
  [2, 3, 3, 5, 2, 1, 5, 0, 1], // prefill from position 0
  [1, 4, 9, 9, 3, 3, 7, 0, 0], // non-causal prefill
];

const paths =
  isa === 'avx512' ? ['avx512', 'avx2', 'scalar'] : isa === 'avx2' ? ['avx2', 'scalar'] : ['scalar'];

describe.skipIf(!native)('int8 KV cache kernels: native vs TypeScript twin', () => {
  afterAll(() => void (native && isa && setIsa(isa)));
  for (const path of paths) {
    it(`quantization is bit-identical (${path})`, () => {
      setIsa(path);
      const rng = new Rng(1);
      for (const D of [1, 5, 15, 16, 17, 31, 64, 80, 128])
        quantizeBoth(native!, normals(rng, 9 * D + 1, 3), 9, D);
      // exact halves and the float just below a half round as round-half-away does
      const D = 8;
      const x = Float32Array.from([
        0, 127, 0.5, -0.5, 1.5, -2.5, 0.49999997, 126.5, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      ]);
      const r = quantizeBoth(native!, x, 2, D);
      expect(Array.from(r.codes.subarray(3, 11))).toEqual(
        [127, 1, -1, 2, -3, 0, 127, 0].map((c, i) => (i === 0 ? 127 : c)),
      );
      expect(r.scales[3]).toBe(0); // an all-zero row: scale 0, codes 0
      // a non-finite element: NaN scale and zero codes (the NaN reaches the output as through f32)
      const bad = quantizeBoth(native!, Float32Array.from([0, 1, Infinity, 2, 3]), 1, 4);
      expect(Number.isNaN(bad.scales[2])).toBe(true);
      expect(Array.from(bad.codes.subarray(3, 7))).toEqual([0, 0, 0, 0]);
      // a large row goes through the pool in parallel: same bits
      quantizeBoth(native!, normals(rng, 2048 * 64 + 1), 2048, 64);
    });

    it(`attention within 1e-5 of the twin on every remainder path (${path})`, () => {
      setIsa(path);
      const rng = new Rng(2);
      for (const s of SHAPES) expect(attentionBoth(native!, rng, s), s.join(',')).toBeLessThan(1e-5);
      // scores hundreds apart: most exponentials underflow (the kernel's exp flushes below e^-87 to 0)
      expect(attentionBoth(native!, rng, [1, 1, 200, 200, 4, 2, 32, 199, 1], 60)).toBeLessThan(1e-5);
    });

    it(`a key row with a NaN scale turns its heads' outputs NaN, as in the twin (${path})`, () => {
      setIsa(path);
      for (const D of [16, 20]) {
        // 6 heads over 3 kv heads, 37 keys: kv head 1 of position 21 is NaN
        const [[go], [wo]] = attentionRuns(native!, new Rng(3), [1, 1, 37, 37, 6, 3, D, 36, 1], 2, (ks) => {
          ks[21 * 3 + 1] = NaN;
        });
        const nan = (x: Float32Array) => Array.from(x, (v) => Number.isNaN(v));
        expect(nan(go)).toEqual(nan(wo));
        expect(nan(go).filter(Boolean).length).toBe(2 * D); // the two query heads of kv head 1
      }
    });
  }

  it('checks windows and shapes before touching memory', () => {
    const k = native!;
    const i8 = new Int8Array(16);
    const f = new Float32Array(16);
    expect(() => k.kv8Quantize(f, 0, 5, 4, i8, 0, f, 0)).toThrow(RangeError);
    expect(() =>
      k.kv8Quantize(f as unknown as Float32Array, 0, 1, 4, f as unknown as Int8Array, 0, f, 0),
    ).toThrow(TypeError);
    const args = (cap: number, Hq: number, S: number, qOff: number) =>
      k.attentionFwdKv8(f, 0, i8, 0, f, 0, i8, 0, f, 0, cap, f, 0, f, 0, 1, 1, S, Hq, 2, 4, qOff, 1, 0.5);
    expect(() => args(1, 2, 2, 1)).toThrow(/cap 1 is smaller than S 2/);
    expect(() => args(2, 3, 2, 1)).toThrow(/multiple of Hkv/);
    expect(() => args(2, 2, 2, 2)).toThrow(/qOffset \+ T <= S/);
    expect(() => args(4, 2, 4, 3)).toThrow(RangeError); // 4 positions × 2 heads × 4 > 16 codes
  });
});

/** The same C in the wasm module (SIMD128 and its scalar path), tensors outside its memory staged per call. */
const wasm = (() => {
  try {
    const k = wasmKernels();
    return k.kv8Available() ? k : null;
  } catch {
    return null;
  }
})();

describe.skipIf(!wasm)('int8 KV cache kernels: wasm vs TypeScript twin', () => {
  afterAll(() => void wasm?.setIsa('simd128'));
  for (const path of ['simd128', 'scalar'] as const) {
    it(`quantization bit-identical, attention within 1e-5 (${path}, 1 and 2 threads)`, () => {
      wasm!.setIsa(path);
      const rng = new Rng(3);
      for (const threads of [1, 2]) {
        wasm!.setThreads(threads);
        for (const D of [1, 5, 16, 17, 64, 80]) quantizeBoth(wasm!, normals(rng, 9 * D + 1, 3), 9, D);
        for (const s of SHAPES) expect(attentionBoth(wasm!, rng, s), s.join(',')).toBeLessThan(1e-5);
      }
    });
  }
});
