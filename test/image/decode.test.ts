/** Decoding against Pillow's own pixels (test/fixtures/image, made by make.py with Debian's python3-pil). */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeImage,
  ImageTooLargeError,
  NotAnImageError,
  TruncatedImageError,
} from '../../src/image/index.js';

const DIR = path.resolve(import.meta.dirname, '../fixtures/image');
interface Expected {
  decode: Record<string, { width: number; height: number; mode: string }>;
}
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as Expected;

function mismatches(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('decodeImage equals Pillow exif_transpose + convert("RGB")', () => {
  for (const [name, info] of Object.entries(expected.decode)) {
    it(`${name} (Pillow mode ${info.mode})`, async () => {
      const img = await decodeImage(fs.readFileSync(path.join(DIR, name)));
      expect([img.width, img.height]).toEqual([info.width, info.height]);
      const want = fs.readFileSync(path.join(DIR, `${name}.rgb`));
      expect(img.data.length).toBe(want.length);
      expect(mismatches(img.data, want)).toBe(0);
    });
  }

  it('can leave EXIF orientation alone', async () => {
    const img = await decodeImage(fs.readFileSync(path.join(DIR, 'orient6.jpg')), { autoOrient: false });
    expect([img.width, img.height]).toEqual([24, 16]);
  });
});

describe('bad input', () => {
  it('refuses bytes that are not an image', async () => {
    await expect(decodeImage(new TextEncoder().encode('{"not": "an image"}'))).rejects.toThrow(
      NotAnImageError,
    );
    await expect(decodeImage(new Uint8Array(0))).rejects.toThrow(NotAnImageError);
  });

  for (const name of ['rgb.png', 'rgb.jpg', 'progressive.jpg', 'palette.png']) {
    it(`refuses a truncated ${name}`, async () => {
      const bytes = fs.readFileSync(path.join(DIR, name));
      for (const frac of [0.3, 0.8]) {
        const cut = bytes.subarray(0, Math.floor(bytes.length * frac));
        await expect(decodeImage(cut, { what: name })).rejects.toThrow(TruncatedImageError);
      }
    });
  }

  it('refuses a decompression bomb from its header, naming the size and the limit', async () => {
    // A 1×1 PNG header patched to claim 100000×100000 pixels: rejected before any decoding.
    const png = Buffer.from(fs.readFileSync(path.join(DIR, 'rgb.png')));
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
    const err = await decodeImage(png).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect((err as Error).message).toMatch(/100000×100000.*over the limit/);
    await expect(
      decodeImage(fs.readFileSync(path.join(DIR, 'rgb.png')), { maxPixels: 1000 }),
    ).rejects.toThrow(ImageTooLargeError);
  });
});
