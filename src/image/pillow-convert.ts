/**
 * Pillow's convert('RGB') for the decoded band layouts libvips hands us, byte for byte as Pillow 9–11
 * computes it (libImaging/Convert.c): grey replicates, alpha is dropped (never composited), CMYK uses
 * Pillow's naive formula (no ICC profile), 16-bit grey clips to 0..255 (Pillow opens it as mode "I"),
 * 16-bit RGB keeps the high byte (rawmode "RGB;16B").
 */
import { rgbImage, type RgbImage } from './rgb-image.js';

export type BandLayout = 'grey' | 'grey-alpha' | 'rgb' | 'rgba' | 'cmyk' | 'cmyk-alpha';

/** MULDIV255 of libImaging: round(a·b/255) in integers. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/**
 * Interleaved samples (8- or 16-bit, `channels` per pixel) → RGB8 following Pillow's rules for the
 * mode the file would open as.
 */
export function toPillowRgb(
  samples: Uint8Array | Uint16Array,
  width: number,
  height: number,
  channels: number,
  layout: BandLayout,
): RgbImage {
  const img = rgbImage(width, height);
  const out = img.data;
  const n = width * height;
  const wide = samples instanceof Uint16Array;
  for (let i = 0, s = 0, o = 0; i < n; i++, s += channels, o += 3) {
    switch (layout) {
      case 'grey':
      case 'grey-alpha': {
        // 16-bit grey is Pillow mode "I"; I → RGB clips instead of scaling.
        const v = wide ? Math.min(samples[s], 255) : samples[s];
        out[o] = out[o + 1] = out[o + 2] = v;
        break;
      }
      case 'rgb':
      case 'rgba':
        for (let k = 0; k < 3; k++) out[o + k] = wide ? samples[s + k] >> 8 : samples[s + k];
        break;
      case 'cmyk':
      case 'cmyk-alpha': {
        const nk = 255 - samples[s + 3];
        for (let k = 0; k < 3; k++) out[o + k] = Math.max(0, nk - mulDiv255(samples[s + k], nk));
        break;
      }
    }
  }
  return img;
}
