/** The MiniCPM-V pixel transform: (u8/255 − 0.5)/0.5, channels first (torchvision ToTensor + Normalize). */
import type { RgbImage } from './rgb-image.js';

/** [3, H, W] values in [−1, 1] as float32. */
export function toPixelValues(img: RgbImage): Float32Array {
  const { width, height, data } = img;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    // ToTensor divides in float32, Normalize subtracts and divides in float32: do the same.
    for (let c = 0; c < 3; c++) {
      const u = Math.fround(data[i * 3 + c] / 255);
      out[c * plane + i] = Math.fround(Math.fround(u - 0.5) / 0.5);
    }
  }
  return out;
}
