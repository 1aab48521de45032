/** The one in-memory image type: 8-bit RGB, row-major, interleaved (what Pillow's mode "RGB" holds). */
export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
}

export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`image size ${width}×${height} must be positive integers`);
  const n = width * height * 3;
  if (data && data.length !== n)
    throw new RangeError(`an RGB image of ${width}×${height} needs ${n} bytes, got ${data.length}`);
  return { width, height, data: data ?? new Uint8Array(n) };
}
