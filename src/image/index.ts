/** Image decoding and Pillow-exact preprocessing (knows no model). */
export * from './errors.js';
export * from './rgb-image.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions } from './decode.js';
export { toPillowRgb, type BandLayout } from './pillow-convert.js';
export { bicubicTaps, resizeBicubic, type Taps } from './resize-bicubic.js';
export { toPixelValues } from './normalize.js';
export { parseImageUrl, ImageUrlError, RemoteImageRefusedError, type ImageSource } from './data-url.js';
