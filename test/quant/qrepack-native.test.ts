// The C repackers (native/src/qrepack.c) against their TypeScript twins (quant/qweight-repack.ts): the
// same codes, scales and zeros byte for byte for AutoGPTQ layers (2/4/8 bits, v1/v2 zeros, act-order,
// group sizes 32 and 128, rows 1..40 wide so partial tiles occur) and GGUF Q4_0/Q8_0 rows; the same
// first bad zero point; and the wrappers refuse windows the kernels would overrun. Skipped visibly
// without the addon.

import { describe, expect, it } from 'vitest';
import { nativeRepackKernels } from '../../src/backends/qrepack.js';
import { packAutoGptq, type QuantizedLinear } from '../../src/quant/index.js';
import type { QWeight } from '../../src/quant/qweight.js';
import { repackGptq, repackQ4_0, repackQ8_0 } from '../../src/quant/qweight-repack.js';
import { f16ToF32, f32ToF16, Rng } from '../../src/tensor/index.js';

const native = nativeRepackKernels();
if (!native) console.warn('[qrepack-native] SKIPPING: the native addon (with qrepack) is not built');

function layer(
  rng: Rng,
  out: number,
  cols: number,
  bits: number,
  groupSize: number,
  act: boolean,
): QuantizedLinear {
  const maxq = 2 ** bits - 1;
  const groups = cols / groupSize;
  const order = Int32Array.from({ length: cols }, (_, c) => c);
  if (act)
    for (let i = cols - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  const gIdx = new Int32Array(cols);
  for (let i = 0; i < cols; i++) gIdx[order[i]] = Math.floor(i / groupSize);
  const q = Uint8Array.from({ length: out * cols }, () => Math.floor(rng.uniform() * (maxq + 1)));
  const zeros = Uint8Array.from({ length: groups * out }, () => 1 + Math.floor(rng.uniform() * maxq));
  const scales = Float64Array.from({ length: groups * out }, () =>
    f16ToF32(f32ToF16(0.001 + rng.uniform() * 0.1)),
  );
  return { out, in: cols, bits, groupSize, sym: false, q, scales, zeros, gIdx, weight: new Float64Array(0) };
}

function same(a: QWeight, b: QWeight): void {
  expect(a.bits).toBe(b.bits);
  expect(Buffer.compare(Buffer.from(a.codes), Buffer.from(b.codes))).toBe(0);
  expect(
    Buffer.compare(
      Buffer.from(a.scales.buffer, a.scales.byteOffset, a.scales.byteLength),
      Buffer.from(b.scales.buffer, b.scales.byteOffset, b.scales.byteLength),
    ),
  ).toBe(0);
  expect(Buffer.compare(Buffer.from(a.zeros), Buffer.from(b.zeros))).toBe(0);
  expect(a.perm).toEqual(b.perm);
}

describe.skipIf(!native)('native repackers = TypeScript twins', () => {
  it('AutoGPTQ: 2/4/8 bits, v1 and v2, act-order, partial tiles', () => {
    const rng = new Rng(5);
    let n = 0;
    for (const bits of [2, 4, 8])
      for (const out of bits === 2 ? [16, 48] : [8, 24, 40])
        for (const [cols, g] of [
          [64, 32],
          [256, 128],
          [96, 32],
        ] as const)
          for (const act of [false, true]) {
            const p = packAutoGptq(layer(rng, out, cols, bits, g, act));
            const t = {
              qweight: p.qweight,
              qzeros: p.qzeros,
              scales: p.scales,
              gIdx: p.gIdx,
              out,
              in: cols,
              groups: p.groups,
            };
            for (const zo of [1, 0] as const) {
              same(repackGptq(t, bits, zo, 'l', native), repackGptq(t, bits, zo, 'l', null));
              n++;
            }
          }
    expect(n).toBe(96);
  });

  it('the same first bad zero point', () => {
    const p = packAutoGptq(layer(new Rng(8), 40, 64, 8, 32, false));
    const t = {
      qweight: p.qweight,
      qzeros: Int32Array.from(p.qzeros),
      scales: p.scales,
      gIdx: p.gIdx,
      out: 40,
      in: 64,
      groups: p.groups,
    };
    t.qzeros[1 * 10 + 7] = -1; // group 1, rows 28..31: v1 zero 256
    t.qzeros[0 * 10 + 9] = -1; // group 0, rows 36..39 (a later tile)
    const msg = (k: typeof native) => {
      try {
        repackGptq(t, 8, 1, 'x.down_proj', k);
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(msg(native)).toMatch(/x\.down_proj\.qzeros: zero point 256 \(group 1, row 28\)/);
    expect(msg(native)).toBe(msg(null));
  });

  it('GGUF Q4_0 and Q8_0 rows, 1..40 rows', () => {
    const rng = new Rng(3);
    for (const out of [1, 15, 16, 17, 40])
      for (const cols of [32, 96, 256]) {
        const q4 = Uint8Array.from({ length: out * (cols / 32) * 18 }, () => Math.floor(rng.uniform() * 256));
        const q8 = Uint8Array.from({ length: out * (cols / 32) * 34 }, () => Math.floor(rng.uniform() * 256));
        same(repackQ4_0(q4, out, cols, 'w', native), repackQ4_0(q4, out, cols, 'w', null));
        same(repackQ8_0(q8, out, cols, 'w', native), repackQ8_0(q8, out, cols, 'w', null));
      }
  });

  it('the wrappers refuse windows the kernels would overrun', () => {
    const k = native!;
    const codes = new Uint8Array(256);
    expect(() =>
      k.qrepackQ4_0(new Uint8Array(18), 1, 1, codes, new Uint16Array(8), new Uint8Array(16)),
    ).toThrow(/scales and zeros 16 entries/);
    expect(() =>
      k.qrepackQ8_0(new Uint8Array(33), 1, 1, new Uint8Array(512), new Uint16Array(16), new Uint8Array(16)),
    ).toThrow(/data needs 34 bytes/);
    const colByte = new Int32Array(32);
    colByte[5] = 256; // beyond a one-block W4 row stride
    expect(() =>
      k.qrepackGptqCodes(new Int32Array(4), 1, 32, 4, colByte, new Uint8Array(32), 256, codes),
    ).toThrow(/colByte\[5\] = 256/);
    expect(() =>
      k.qrepackGptqParams(
        new Uint16Array(8),
        new Int32Array(1),
        Int32Array.of(1),
        8,
        1,
        4,
        1,
        16,
        new Uint16Array(16),
        new Uint8Array(16),
      ),
    ).toThrow(/blockGroup\[0\] = 1 is not one of 1 groups/);
    expect(() =>
      k.qrepackQ4_0(
        new Float32Array(9) as unknown as Uint8Array,
        1,
        1,
        codes,
        new Uint16Array(16),
        new Uint8Array(16),
      ),
    ).toThrow(/data must be a Uint8Array/);
  });
});
