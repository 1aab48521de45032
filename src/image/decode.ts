/**
 * Image decoding through `sharp` (libvips). Why sharp rather than pure-JS decoders (pngjs + jpeg-js):
 * its prebuilt binaries ship in npm (they install here offline from the registry), and its JPEG decoder
 * is libjpeg-turbo's (mozjpeg) with the same integer IDCT and fancy chroma upsampling as Pillow's, so
 * decoded pixels equal Pillow's byte for byte (checked in test/image on 4:2:0, 4:4:4, progressive, grey
 * and CMYK files); jpeg-js upsamples chroma differently and would move pixels by a few levels.
 * We ask libvips for the file's own bands (no ICC or colour-space conversion) and apply Pillow's
 * convert('RGB') ourselves (pillow-convert.ts); EXIF orientation is applied as ImageOps.exif_transpose.
 */
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { ImageError, ImageTooLargeError, NotAnImageError, TruncatedImageError } from './errors.js';
import { toPillowRgb, type BandLayout } from './pillow-convert.js';
import type { RgbImage } from './rgb-image.js';

/** Pillow's own decompression-bomb error threshold (2 × Image.MAX_IMAGE_PIXELS). */
export const DEFAULT_MAX_PIXELS = 2 * 89_478_485;

export interface DecodeOptions {
  /** Refuse images with more pixels than this (checked from the header, before decoding). */
  maxPixels?: number;
  /** Name used in error messages (a path, "image 2", ...). */
  what?: string;
  /** Apply the EXIF orientation tag (default true). */
  autoOrient?: boolean;
}

type Space = 'srgb' | 'b-w' | 'grey16' | 'rgb16' | 'cmyk';

/** The libvips interpretation to keep, and how Pillow would see its bands. */
function plan(space: string | undefined, channels: number): { space: Space; layout: BandLayout } {
  const alpha = channels === 2 || channels === 4 || (space === 'cmyk' && channels === 5);
  switch (space) {
    case 'cmyk':
      return { space: 'cmyk', layout: alpha ? 'cmyk-alpha' : 'cmyk' };
    case 'b-w':
      return { space: 'b-w', layout: alpha ? 'grey-alpha' : 'grey' };
    case 'grey16':
      return { space: 'grey16', layout: alpha ? 'grey-alpha' : 'grey' };
    case 'rgb16':
      return { space: 'rgb16', layout: alpha ? 'rgba' : 'rgb' };
    default:
      // sRGB, palette PNGs (libvips expands the palette) and anything exotic (converted by libvips).
      return { space: 'srgb', layout: alpha ? 'rgba' : 'rgb' };
  }
}

type SharpFactory = (input: Buffer, opts: SharpOptions) => Sharp;
let loaded: Promise<SharpFactory> | null = null;

/** sharp is loaded on first use, so text-only commands never need its native binary. */
function loadSharp(): Promise<SharpFactory> {
  loaded ??= import('sharp').then(
    (m) => m.default as unknown as SharpFactory,
    (err: unknown) => {
      loaded = null;
      throw new ImageError(
        `image decoding needs the sharp package and its prebuilt libvips for this platform (${describe(err)}): ` +
          'run `npm install sharp` (see https://sharp.pixelplumbing.com/install)',
      );
    },
  );
  return loaded;
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
}

/** Decodes PNG or JPEG bytes (also WebP, GIF, TIFF: whatever libvips reads) into Pillow-equal RGB8. */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const what = opts.what ?? 'the image';
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    // A recognised signature whose header then ends or breaks is a damaged image, not a non-image.
    const msg = describe(err);
    if (/unsupported image format|empty/i.test(msg)) throw new NotAnImageError(what, msg);
    throw new TruncatedImageError(what, msg);
  }
  const { width, height } = meta;
  if (!width || !height) throw new NotAnImageError(what, 'no image dimensions in the header');
  if (width * height > maxPixels) throw new ImageTooLargeError(what, width, height, maxPixels);
  const { space, layout } = plan(meta.space, meta.channels ?? 3);
  const wide = space === 'grey16' || space === 'rgb16';
  try {
    // failOn 'truncated' matches Pillow: short files are errors, libjpeg's "corrupt data" warnings are not.
    let pipe = sharp(input, { failOn: 'truncated', limitInputPixels: maxPixels });
    if (opts.autoOrient ?? true) pipe = pipe.rotate();
    const { data, info } = await pipe
      .pipelineColourspace(space)
      .toColourspace(space)
      .raw({ depth: wide ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const samples = wide
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return toPillowRgb(samples, info.width, info.height, info.channels, layout);
  } catch (err) {
    throw new TruncatedImageError(what, describe(err));
  }
}
