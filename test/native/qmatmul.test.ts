/**
 * The quantized matmul: the TypeScript twin against a closed form (dequantized weights times dequantized
 * int8 activations, in f64), then the C kernels against the twin on every code path this CPU has
 * (AVX-512 VNNI, AVX2, scalar), 1 and 2 threads, W4 and W8, shapes hitting every remainder: rows not a
 * multiple of 16 (padded tiles), 1..9 token rows (the 4-row tile groups and their tails, decode and prefill
 * splits), several fused weights, act-order perm, offsets and padded leading dims.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeKernels, type NativeIsa } from '../../src/backends/kernels-native.js';
import { nativeQuantKernels, refQuantKernels as ref } from '../../src/backends/quant.js';
import { f16ToF32, f32ToF16 } from '../../src/tensor/dtype.js';
import { rng } from './qprefill-helpers.js';

const native = nativeQuantKernels();
const addon = loadNativeKernels();

interface W {
  n: number;
  codes: Uint8Array;
  scales: Uint16Array;
  zeros: Uint8Array;
}

function randomWeight(bits: 2 | 4 | 8, n: number, K: number, seed: number): W {
  const r = rng(seed);
  const tiles = Math.ceil(n / 16);
  const B = K / 32;
  const codes = new Uint8Array(tiles * B * 64 * bits);
  for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(r() * 256);
  const scales = new Uint16Array(tiles * B * 16);
  const zeros = new Uint8Array(tiles * B * 16);
  for (let i = 0; i < scales.length; i++) {
    scales[i] = f32ToF16(0.001 + 0.05 * r());
    // W2 zeros up to 4 and W4 up to 16 (AutoGPTQ v1), W8 up to 255
    zeros[i] = Math.floor(r() * (bits === 8 ? 256 : bits === 4 ? 17 : 5));
  }
  return { n, codes, scales, zeros };
}

function randomX(len: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(len);
  for (let i = 0; i < len; i++) x[i] = (r() * 2 - 1) * (i % 7 === 0 ? 4 : 1);
  // an all-zero block exercises d = 0
  for (let i = 0; i < Math.min(32, len); i++) x[i] = 0;
  return x;
}

function randomPerm(K: number, seed: number): Int32Array {
  const r = rng(seed);
  const p = Int32Array.from({ length: K }, (_, i) => i);
  for (let i = K - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Code of row o at packed column j (layout of src/quant/qweight.ts). */
function codeOf(w: W, bits: number, B: number, o: number, j: number): number {
  const base = (Math.floor(o / 16) * B + Math.floor(j / 32)) * 64 * bits + (o % 16) * 4;
  const kk = j % 32;
  if (bits === 8) return w.codes[base + (kk >> 2) * 64 + (kk & 3)];
  if (bits === 2) return (w.codes[base + ((kk >> 2) & 1) * 64 + (kk & 3)] >> (2 * (kk >> 3))) & 3;
  const k = kk & 15;
  const byte = w.codes[base + (k >> 2) * 64 + (k & 3)];
  return kk >= 16 ? byte >> 4 : byte & 15;
}

interface Case {
  bits: 2 | 4 | 8;
  M: number;
  K: number;
  ns: number[];
  perm: boolean;
}

function run(k: typeof ref, c: Case, seed: number) {
  const ldx = c.K + 3;
  const xOff = 5;
  const total = c.ns.reduce((a, b) => a + b, 0);
  const ldy = total + 2;
  const yOff = 4;
  const x = randomX(xOff + c.M * ldx, seed);
  const ws = c.ns.map((n, i) => randomWeight(c.bits, n, c.K, seed * 31 + i));
  const perm = c.perm ? randomPerm(c.K, seed + 7) : null;
  const y = new Float32Array(yOff + c.M * ldy + 3).fill(NaN);
  k.qmatmul(
    c.M,
    c.K,
    c.bits,
    x,
    xOff,
    ldx,
    perm,
    ws.map((w) => w.codes),
    ws.map((w) => w.scales),
    ws.map((w) => w.zeros),
    c.ns,
    y,
    yOff,
    ldy,
  );
  return { x, ws, perm, y, ldx, xOff, ldy, yOff, total };
}

const cases: Case[] = [];
for (const bits of [2, 4, 8] as const) {
  for (const M of [1, 2, 3, 4, 5, 9]) {
    cases.push({ bits, M, K: 32, ns: [1], perm: false });
    cases.push({ bits, M, K: 96, ns: [17], perm: true });
    cases.push({ bits, M, K: 64, ns: [16, 33, 5], perm: false });
  }
  cases.push({ bits, M: 1, K: 320, ns: [130, 64], perm: true });
  cases.push({ bits, M: 7, K: 128, ns: [300], perm: true }); // > 4 tile groups of prefill tasks
  cases.push({ bits, M: 1, K: 1024, ns: [600], perm: false }); // big enough to split decode over threads
  // over 1 MiB of weights per thread: decode runs by guided self-scheduling (qmatmul.c decode_run), runs
  // of uneven length crossing the fused weights' borders, the GEMV (M = 1) and the tile kernels (M = 3)
  for (const M of [1, 3]) cases.push({ bits, M, K: 1024, ns: [1200, 3001, 999], perm: M === 3 });
}

describe('quantized matmul twin', () => {
  it('quantizes activations per 32 with round-half-away and exact code sums', () => {
    const K = 64;
    const x = randomX(K, 3);
    x[40] = 127 / 127; // exercise a value at amax
    const xq = new Int8Array(K);
    const xd = new Float32Array(2);
    const xs = new Int32Array(2);
    ref.qquantize(1, K, x, 0, K, null, xq, xd, xs);
    expect(xd[0]).toBe(0); // the zeroed first block
    for (let b = 0; b < 2; b++) {
      let amax = 0;
      let sum = 0;
      for (let i = 0; i < 32; i++) {
        amax = Math.max(amax, Math.abs(x[b * 32 + i]));
        sum += xq[b * 32 + i];
        if (xd[b] > 0)
          expect(Math.abs(xq[b * 32 + i] * xd[b] - x[b * 32 + i])).toBeLessThanOrEqual(xd[b] * 0.5 + 1e-7);
      }
      expect(xd[b]).toBe(Math.fround(amax / 127));
      expect(xs[b]).toBe(sum);
    }
  });

  // (the guided-split cases are left to the comparisons with this twin: the f64 loop is slow at their size)
  const closedForm = cases.filter((c) => c.M <= 5 && c.K * c.ns.reduce((a, b) => a + b, 0) <= 1 << 20);
  it.each(closedForm)('equals the dequantized product in f64: %o', (c) => {
    const { x, ws, perm, y, ldx, xOff, ldy, yOff } = run(ref, c, 11);
    const B = c.K / 32;
    const xq = new Int8Array(c.M * c.K);
    const xd = new Float32Array(c.M * B);
    const xs = new Int32Array(c.M * B);
    ref.qquantize(c.M, c.K, x, xOff, ldx, perm, xq, xd, xs);
    let col = 0;
    for (const w of ws) {
      for (let m = 0; m < c.M; m++) {
        for (let o = 0; o < w.n; o++) {
          let s = 0;
          let mag = 0;
          for (let j = 0; j < c.K; j++) {
            const p = (Math.floor(o / 16) * B + Math.floor(j / 32)) * 16 + (o % 16);
            const wv = f16ToF32(w.scales[p]) * (codeOf(w, c.bits, B, o, j) - w.zeros[p]);
            const xv = xq[m * c.K + j] * xd[m * B + Math.floor(j / 32)];
            s += wv * xv;
            mag += Math.abs(wv * xv);
          }
          expect(Math.abs(y[yOff + m * ldy + col + o] - s)).toBeLessThanOrEqual(1e-6 * mag + 1e-30);
        }
      }
      col += w.n;
    }
  });

  // A sym bit is a promise that the zeros of the weight's real rows are 2^(bits−1) (the native GEMV does not
  // read them); the twin, which does, holds the caller to it. A last tile's padding rows are not real.
  it('rejects a weight marked symmetric whose zeros are not 2^(bits−1)', () => {
    for (const bits of [2, 4, 8] as const) {
      const w = randomWeight(bits, 17, 64, bits);
      w.zeros.fill(1 << (bits - 1));
      w.zeros.fill(0, 2 * 16 + 1, 2 * 16 + 16); // tile 1's padding rows (block 0)
      const call = () =>
        ref.qmatmul(
          1,
          64,
          bits,
          randomX(64, 1),
          0,
          64,
          null,
          [w.codes],
          [w.scales],
          [w.zeros],
          [17],
          new Float32Array(17),
          0,
          17,
          1,
        );
      expect(call).not.toThrow();
      w.zeros[2 * 16] = 0; // tile 1, block 0, row 16: a real row
      expect(call).toThrow(/weight 0 is marked symmetric but row 16 block 0 has zero 0/);
    }
  });
});

// read before probing the ISAs below (probing leaves the last one selected)
const best = addon?.features().isa;
const threads0 = addon?.getThreads() ?? 1;
const isas: NativeIsa[] = addon
  ? (['avx512', 'avx2', 'scalar'] as const).filter((isa) => addon.setIsa(isa))
  : [];
if (addon && best) addon.setIsa(best);

afterAll(() => {
  if (addon && best) {
    addon.setIsa(best);
    addon.setThreads(threads0);
  }
});

const twinRuns: ReturnType<typeof run>[] = [];

describe.skipIf(!native)('native quantized matmul vs its twin', () => {
  it('uses VNNI where the CPU has it', () => {
    expect(typeof addon!.features().vnni).toBe('boolean');
  });

  for (const isa of isas) {
    for (const t of [1, 2]) {
      it(`${isa} ${t}t: qquantize is bit-identical`, () => {
        addon!.setIsa(isa);
        addon!.setThreads(t);
        for (const [M, K, perm] of [
          [1, 32, false],
          [3, 96, true],
          [5, 320, true],
        ] as const) {
          const ldx = K + 1;
          const x = randomX(2 + M * ldx, M + K);
          const p = perm ? randomPerm(K, K) : null;
          const got = {
            q: new Int8Array(M * K),
            d: new Float32Array((M * K) / 32),
            s: new Int32Array((M * K) / 32),
          };
          const want = {
            q: new Int8Array(M * K),
            d: new Float32Array((M * K) / 32),
            s: new Int32Array((M * K) / 32),
          };
          native!.qquantize(M, K, x, 2, ldx, p, got.q, got.d, got.s);
          ref.qquantize(M, K, x, 2, ldx, p, want.q, want.d, want.s);
          expect(got).toEqual(want);
        }
        // exact halves round away from zero, the float just below a half rounds down (amax 127: scale 1)
        const ties = Float32Array.from(
          { length: 32 },
          (_, i) =>
            [127, -126.5, 0.5, -0.5, 1.5, -2.5, Math.fround(0.49999997), -Math.fround(0.49999997)][i % 8],
        );
        const q = new Int8Array(32);
        native!.qquantize(1, 32, ties, 0, 32, null, q, new Float32Array(1), new Int32Array(1));
        expect(Array.from(q.subarray(0, 8))).toEqual([127, -127, 1, -1, 2, -3, 0, 0]);
      });

      it(`${isa} ${t}t: qmatmul matches the twin on every remainder path`, () => {
        addon!.setIsa(isa);
        addon!.setThreads(t);
        for (const [i, c] of cases.entries()) {
          const a = run(native!, c, 100 + i);
          const b = twinRuns[i] ?? (twinRuns[i] = run(ref, c, 100 + i)); // the same for every path
          const B = c.K / 32;
          let scale = 0;
          for (let m = 0; m < c.M; m++)
            for (let o = 0; o < a.total; o++) scale = Math.max(scale, Math.abs(b.y[b.yOff + m * b.ldy + o]));
          for (let j = 0; j < a.y.length; j++) {
            const inside = j >= a.yOff && (j - a.yOff) % a.ldy < a.total && j < a.yOff + c.M * a.ldy;
            if (!inside) expect(a.y[j], `padding at ${j} untouched`).toBeNaN();
            else
              expect(Math.abs(a.y[j] - b.y[j]), `${JSON.stringify(c)} at ${j}`).toBeLessThanOrEqual(
                2e-6 * B * scale + 1e-30,
              );
          }
        }
      });
    }
  }

  // The one-row decode GEMVs (qgemv-avx512vnni.c: high nibbles as 16·hi, W2 bit pairs as 4^j·code, −z·Σq
  // seeded through vpmaddwd; qgemv-avx2.c: the AVX2 tile kernel's arithmetic) reorder the integer work and
  // the reads (two streams of tiles in step) but not the float work, so each must equal the scalar C
  // kernel (for W2: the W4 one on unpacked codes) bit for bit, also at the integer extremes: codes
  // 3/15/255, zeros 4/16/255, block sums ±32·127, odd and even runs, and a two-thread split that falls
  // inside a fused run. Weights in the `sym` mask have every zero at 2^(bits−1) and go through the GEMVs'
  // symmetric entry points, which take that constant instead of reading the zeros.
  const gemvIsas = [
    ...(isas.includes('avx512') && addon?.features().vnni ? (['avx512'] as const) : []),
    ...(isas.includes('avx2') ? (['avx2'] as const) : []),
  ];
  for (const gemvIsa of gemvIsas)
    it(`the ${gemvIsa} decode GEMV is bit-identical to the scalar kernel, extremes and symmetric weights included`, () => {
      const decode = (bits: 2 | 4 | 8, K: number, ns: number[], extreme: boolean, seed: number, sym = 0) => {
        const ws = ns.map((n, i) => randomWeight(bits, n, K, seed * 7 + i));
        const x = randomX(K, seed);
        if (extreme) {
          for (const w of ws) {
            w.codes.fill(0xff, 0, w.codes.length >> 1);
            w.zeros.fill(bits === 8 ? 255 : bits === 4 ? 16 : 4, 0, w.zeros.length >> 1);
          }
          x.fill(3, 0, K >> 1); // Σq = +32·127 per block
          x.fill(-3, K >> 1); // Σq = −32·127
        }
        ws.forEach((w, i) => (sym >> i) & 1 && w.zeros.fill(1 << (bits - 1)));
        const total = ns.reduce((a, b) => a + b, 0);
        // with symmetric weights, a third pass of the GEMV with their zeros overwritten: the symmetric entry
        // points must not read them (the scalar kernel, which does, runs before the overwrite)
        const passes = sym ? ([gemvIsa, 'scalar', 'unread'] as const) : ([gemvIsa, 'scalar'] as const);
        const outs = passes.map((isa) => {
          if (isa === 'unread') ws.forEach((w, i) => (sym >> i) & 1 && w.zeros.fill(0));
          addon!.setIsa(isa === 'unread' ? gemvIsa : isa);
          const y = new Float32Array(total + 2).fill(NaN);
          native!.qmatmul(
            1,
            K,
            bits,
            x,
            0,
            K,
            null,
            ws.map((w) => w.codes),
            ws.map((w) => w.scales),
            ws.map((w) => w.zeros),
            ns,
            y,
            1,
            total,
            sym,
          );
          return y;
        });
        addon!.setIsa(best!);
        return outs;
      };
      for (const t of [1, 2, 3]) {
        addon!.setThreads(t);
        for (const bits of [2, 4, 8] as const) {
          for (const [K, ns] of [
            [32, [1]],
            [64, [16, 33, 5]],
            [1024, [300, 17, 290]],
            [1024, [1200, 3001, 999]], // guided runs (see the cases above)
          ] as const) {
            for (const extreme of [false, true]) {
              const [fast, scalar] = decode(bits, K, [...ns], extreme, K + ns.length);
              expect(fast, `W${bits} K ${K} ${ns} ${extreme ? 'extreme' : 'random'} ${t}t`).toEqual(scalar);
              // every weight symmetric, then the first and last only (a run mixing both entry points)
              for (const sym of [(1 << ns.length) - 1, 1 | (1 << (ns.length - 1))]) {
                const [fs, ss, unread] = decode(bits, K, [...ns], extreme, K + ns.length, sym);
                const at = `W${bits} K ${K} ${ns} sym ${sym} ${extreme ? 'extreme' : 'random'} ${t}t`;
                expect(fs, at).toEqual(ss);
                // W2 on AVX2 has no GEMV: its tiles read the zeros
                if (gemvIsa !== 'avx2' || bits !== 2) expect(unread, `${at}, zeros overwritten`).toEqual(ss);
              }
            }
          }
        }
      }
    });

  // The AVX-512 quantizer (qquantize-avx512.c) against the scalar C loop it replaces, where the twin
  // cannot serve: its Math.max propagates a NaN that the C max skips. Every block remainder of the
  // vector halves, NaN, ±Inf, −0, subnormals, an all-NaN block, ties, with and without a perm.
  it.skipIf(!isas.includes('avx512'))('the AVX-512 quantizer is bit-identical to the scalar C loop', () => {
    const K = 320;
    const M = 3;
    const x = randomX(M * K + 1, 77);
    const specials = [NaN, Infinity, -Infinity, -0, 1e-40, -3e-39, 0.5, -2.5, 127, -126.5];
    for (let i = 0; i < specials.length; i++) x[1 + 37 * i] = specials[i];
    x.fill(NaN, 1 + K, 1 + K + 32); // row 1, block 0: all NaN
    x.fill(Infinity, 1 + 2 * K + 64, 1 + 2 * K + 96); // row 2, block 2: all +Inf
    for (const perm of [null, randomPerm(K, 5)]) {
      const outs = (['avx512', 'scalar'] as const).map((isa) => {
        addon!.setIsa(isa);
        const o = {
          q: new Int8Array(M * K),
          d: new Float32Array((M * K) / 32),
          s: new Int32Array((M * K) / 32),
        };
        native!.qquantize(M, K, x, 1, K, perm, o.q, o.d, o.s);
        return o;
      });
      addon!.setIsa(best!);
      expect(outs[0], perm ? 'perm' : 'no perm').toEqual(outs[1]);
    }
  });

  it('rejects bad arguments with typed errors', () => {
    const w = randomWeight(4, 16, 32, 1);
    const x = new Float32Array(32);
    const y = new Float32Array(16);
    const call = (over: Partial<Record<string, unknown>>) => () =>
      (native!.qmatmul as (...a: unknown[]) => void)(
        over.M ?? 1,
        over.K ?? 32,
        over.bits ?? 4,
        over.x ?? x,
        0,
        32,
        over.perm ?? null,
        [over.codes ?? w.codes],
        [w.scales],
        [w.zeros],
        [over.n ?? 16],
        over.y ?? y,
        0,
        16,
        over.sym,
      );
    expect(call({})).not.toThrow();
    expect(call({ bits: 3 })).toThrow(RangeError);
    expect(call({ K: 48 })).toThrow(/multiple of 32/);
    expect(call({ n: 17 })).toThrow(/too small/);
    expect(call({ codes: w.codes.subarray(1) })).toThrow(/too small/);
    expect(call({ y: new Float32Array(8) })).toThrow(/y needs/);
    expect(call({ x: new Float32Array(31) })).toThrow(/x needs/);
    expect(call({ perm: new Int32Array(32).fill(32) })).toThrow(/outside/);
    expect(call({ codes: new Float32Array(256) })).toThrow(TypeError);
    expect(call({ sym: 1 })).not.toThrow();
    expect(call({ sym: 2 })).toThrow(/sym = 2 names a weight past the 1 given/);
    expect(call({ sym: -1 })).toThrow(RangeError);
    expect(call({ sym: 1.5 })).toThrow(RangeError);
  });
});
