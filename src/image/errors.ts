/** Typed failures of image decoding: each says what was wrong with the bytes and what to do. */

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** The bytes are not an image format we decode (PNG, JPEG, and what libvips also reads). */
export class NotAnImageError extends ImageError {
  constructor(what: string, detail: string) {
    super(`${what} is not a PNG or JPEG image (${detail}): pass an image file`);
    this.name = 'NotAnImageError';
  }
}

/** The header parsed but the pixel data ended early or is corrupt. */
export class TruncatedImageError extends ImageError {
  constructor(what: string, detail: string) {
    super(`${what} is truncated or corrupt (${detail}): re-export or re-download the image`);
    this.name = 'TruncatedImageError';
  }
}

/** More pixels than the decompression-bomb limit allows (checked from the header, before decoding). */
export class ImageTooLargeError extends ImageError {
  constructor(what: string, width: number, height: number, limit: number) {
    super(
      `${what} is ${width}×${height} = ${width * height} pixels, over the limit of ${limit} ` +
        '(a decompression-bomb guard): downscale the image first, or raise maxPixels if you trust it',
    );
    this.name = 'ImageTooLargeError';
  }
}
