/**
 * Quantized weights above the arena's range get a buffer each that starts on a 2 MiB boundary
 * (hugePageBuffer, the addon's hugeAlignOffset), so the decode GEMVs stream them on huge pages from the
 * first byte to the last. JavaScript cannot see absolute addresses, so the boundary itself is checked
 * through what it implies: the offset is below 2 MiB, a multiple of 64 away from the 64-byte boundary
 * the addon's alignOffset reports, the same on every call, and the padded buffer holds the whole range.
 */
import { describe, expect, it } from 'vitest';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { hugePageBuffer, nativeQuantKernels } from '../../src/backends/quant.js';
import { allocQWeight } from '../../src/quant/qweight.js';

const HUGE = 2 << 20;
const addon = loadNativeKernels();
const q = nativeQuantKernels();

describe.skipIf(!addon || !q?.hugeAlignOffset)('huge-page buffers for large quantized weights', () => {
  it('start below 2 MiB into a padded, zeroed buffer, consistently with alignOffset', () => {
    for (const bytes of [1, HUGE - 1, HUGE, 3 * HUGE + 12345]) {
      const h = hugePageBuffer(bytes)!;
      expect(h).not.toBeNull();
      expect(h.byteOffset).toBeGreaterThanOrEqual(0);
      expect(h.byteOffset).toBeLessThan(HUGE);
      expect((h.byteOffset - addon!.alignOffset(h.buffer)) % 64).toBe(0);
      expect(q!.hugeAlignOffset!(h.buffer)).toBe(h.byteOffset);
      expect(h.buffer.byteLength - h.byteOffset).toBeGreaterThanOrEqual(Math.ceil(bytes / HUGE) * HUGE);
      const view = new Uint8Array(h.buffer, h.byteOffset, bytes);
      expect(view[0]).toBe(0);
      expect(view[bytes - 1]).toBe(0);
    }
  });

  it('rejects anything but an ArrayBuffer with a TypeError (alignOffset alike)', () => {
    const f = (b: unknown) => q!.hugeAlignOffset!(b as ArrayBuffer);
    expect(() => f(new Uint8Array(64))).toThrow(TypeError);
    expect(() => f(undefined)).toThrow(/hugeAlignOffset: buffer must be an ArrayBuffer/);
    const g = (b: unknown) => addon!.alignOffset(b as ArrayBuffer);
    expect(() => g(new Uint8Array(64))).toThrow(TypeError);
    expect(() => g(7)).toThrow(/alignOffset: buffer must be an ArrayBuffer/);
  });

  it('a W8 5760 x 2304 weight (13 MB of codes, above the arena) is zeroed, sized and independent', () => {
    const a = allocQWeight(8, 5760, 2304, null);
    const b = allocQWeight(8, 5760, 2304, null);
    expect(a.codes.length).toBe(360 * 72 * 512);
    expect(a.scales.length).toBe(360 * 72 * 16);
    expect(a.zeros.length).toBe(360 * 72 * 16);
    expect(a.codes.every((v) => v === 0)).toBe(true);
    expect(a.codes.buffer).not.toBe(b.codes.buffer);
    a.codes.fill(7);
    expect(b.codes[0]).toBe(0);
    expect(a.scales[0]).toBe(0);
    expect(a.zeros[a.zeros.length - 1]).toBe(0);
    expect(a.codes[a.codes.length - 1]).toBe(7);
  });
});
