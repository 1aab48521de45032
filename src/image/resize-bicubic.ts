/**
 * Pillow's 8-bit BICUBIC resize (libImaging/Resample.c), reproduced to the byte: filter a = −0.5 with
 * support 2·max(scale, 1), taps normalised in double precision, then rounded away from zero to 22-bit
 * fixed point; a horizontal pass into an 8-bit image, then a vertical pass, each accumulating integers
 * from a ½ rounding bias and clamping the shifted sum to 0..255.
 */
import { rgbImage, type RgbImage } from './rgb-image.js';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output pixel: first input index, tap count, and `ksize` fixed-point taps. */
export interface Taps {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  /** outSize·ksize fixed-point coefficients (unused taps are 0). */
  coeffs: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for resizing [0, inSize) onto outSize pixels. */
export function bicubicTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const coeffs = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; the arguments here can be negative.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) / filterScale);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      coeffs[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, coeffs };
}

/** clip8 of Resample.c: arithmetic shift, then clamp. */
function clip8(ss: number): number {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resizes interleaved 8-bit pixels with `channels` bands along one axis (`stride` apart). */
function pass(
  src: Uint8Array,
  dst: Uint8Array,
  taps: Taps,
  lines: number,
  srcLine: number,
  dstLine: number,
  srcStep: number,
  dstStep: number,
  channels: number,
): void {
  const { ksize, start, count, coeffs } = taps;
  const outSize = start.length;
  for (let line = 0; line < lines; line++) {
    for (let o = 0; o < outSize; o++) {
      const k0 = o * ksize;
      const s0 = line * srcLine + start[o] * srcStep;
      const d0 = line * dstLine + o * dstStep;
      for (let c = 0; c < channels; c++) {
        let ss = HALF;
        for (let t = 0, s = s0 + c; t < count[o]; t++, s += srcStep) ss += src[s] * coeffs[k0 + t];
        dst[d0 + c] = clip8(ss);
      }
    }
  }
}

/** Image.resize((width, height), Image.BICUBIC) for an RGB image. */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  const out = rgbImage(width, height);
  const needH = width !== img.width;
  const needV = height !== img.height;
  if (!needH && !needV) {
    out.data.set(img.data);
    return out;
  }
  let cur = img;
  if (needH) {
    const tmp = needV ? rgbImage(width, img.height) : out;
    pass(img.data, tmp.data, bicubicTaps(img.width, width), img.height, img.width * 3, width * 3, 3, 3, 3);
    cur = tmp;
  }
  if (needV) {
    // Columns are the lines of the vertical pass: each output row mixes whole input rows.
    pass(cur.data, out.data, bicubicTaps(img.height, height), width, 3, 3, width * 3, width * 3, 3);
  }
  return out;
}
