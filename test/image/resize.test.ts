/** Pillow's 8-bit BICUBIC resize, byte for byte, and the MiniCPM-V pixel normalisation. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { typedView } from '../../src/io/dtypes.js';
import { bicubicTaps, resizeBicubic, rgbImage, toPixelValues } from '../../src/image/index.js';

const DIR = path.resolve(import.meta.dirname, '../fixtures/image');
const SHARED = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpmv/tiny');
const haveShared = fs.existsSync(SHARED);
if (!haveShared) console.warn(`skipping MiniCPM-V preprocessing fixture tests: ${SHARED} is absent`);

interface Expected {
  resize: {
    src: string;
    width: number;
    height: number;
    out: { file: string; width: number; height: number }[];
  };
}
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as Expected;

function mismatches(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('resizeBicubic equals Pillow Image.resize(BICUBIC)', () => {
  const { src, width, height, out } = expected.resize;
  const img = rgbImage(width, height, new Uint8Array(fs.readFileSync(path.join(DIR, src))));
  for (const o of out) {
    it(`${width}×${height} → ${o.width}×${o.height}`, () => {
      const got = resizeBicubic(img, o.width, o.height);
      expect(mismatches(got.data, fs.readFileSync(path.join(DIR, o.file)))).toBe(0);
    });
  }

  it('same size is a copy', () => {
    const got = resizeBicubic(img, width, height);
    expect(got.data).toEqual(img.data);
    expect(got.data).not.toBe(img.data);
  });

  it('taps sum to one in fixed point (up to rounding) and stay inside the source', () => {
    for (const [n, m] of [
      [45, 112],
      [200, 112],
      [7, 3],
      [1, 5],
    ]) {
      const t = bicubicTaps(n, m);
      for (let o = 0; o < m; o++) {
        let s = 0;
        for (let k = 0; k < t.count[o]; k++) s += t.coeffs[o * t.ksize + k];
        expect(Math.abs(s - (1 << 22))).toBeLessThanOrEqual(t.ksize);
        expect(t.start[o]).toBeGreaterThanOrEqual(0);
        expect(t.start[o] + t.count[o]).toBeLessThanOrEqual(n);
      }
    }
  });
});

describe.skipIf(!haveShared)('the MiniCPM-V fixture preprocessing', () => {
  const f = haveShared ? openSafetensorsSync(path.join(SHARED, 'fixture.safetensors')) : null;
  for (const which of ['up', 'down']) {
    it(`${which}: resized_u8 exactly, pixel_values to float32 rounding`, () => {
      const src = f!.readSync(`${which}.image_u8`);
      const [h, w] = src.shape;
      const resized = f!.readSync(`${which}.resized_u8`);
      const [S] = resized.shape;
      const got = resizeBicubic(rgbImage(w, h, new Uint8Array(src.data)), S, S);
      expect(mismatches(got.data, resized.data)).toBe(0);
      const px = toPixelValues(got);
      const want = typedView(f!.readSync(`${which}.pixel_values`)) as Float64Array;
      let m = 0;
      for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(px[i] - want[i]));
      expect(m).toBeLessThan(1e-7);
    });
  }
});
