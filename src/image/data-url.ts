/**
 * Image references as OpenAI chat content parts carry them: `data:image/…;base64,…` URLs decode to
 * bytes here; http(s) URLs are refused unless the caller allows fetching (the server's flag), since a
 * server that fetches arbitrary URLs for anonymous clients is an SSRF hole.
 */
import { ImageError } from './errors.js';

/** A data: URL that is malformed or not base64 image data. */
export class ImageUrlError extends ImageError {
  constructor(message: string) {
    super(message);
    this.name = 'ImageUrlError';
  }
}

/** A remote image URL where fetching is not enabled. */
export class RemoteImageRefusedError extends ImageError {
  constructor(url: string) {
    super(
      `remote image URLs are not fetched (${url.slice(0, 80)}${url.length > 80 ? '…' : ''}): send the image inline ` +
        'as a data:image/…;base64,… URL, or start the server with remote image fetching enabled',
    );
    this.name = 'RemoteImageRefusedError';
  }
}

export type ImageSource =
  { kind: 'inline'; bytes: Uint8Array; mediaType: string } | { kind: 'remote'; url: URL };

/**
 * Classifies an image URL: inline data (decoded) or a remote http(s) URL (returned only when
 * `allowRemote`, else refused). Anything else (file:, javascript:, …) is an error.
 */
export function parseImageUrl(
  url: string,
  opts: { allowRemote?: boolean; maxBytes?: number } = {},
): ImageSource {
  const maxBytes = opts.maxBytes ?? 20 * 1024 * 1024;
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    if (comma < 0) throw new ImageUrlError('a data: URL needs a comma before its data');
    const meta = url.slice(5, comma).split(';');
    const mediaType = (meta[0] || 'text/plain').toLowerCase();
    if (!mediaType.startsWith('image/'))
      throw new ImageUrlError(
        `a data: URL of type ${mediaType} is not an image: use data:image/png;base64,… or image/jpeg`,
      );
    if (!meta.slice(1).includes('base64'))
      throw new ImageUrlError('image data: URLs must be base64 (…;base64,…)');
    const payload = url.slice(comma + 1).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload))
      throw new ImageUrlError('the data: URL payload is not valid base64');
    if ((payload.length * 3) / 4 > maxBytes)
      throw new ImageUrlError(`the inline image is over ${maxBytes} bytes: send a smaller image`);
    const bytes = new Uint8Array(Buffer.from(payload, 'base64'));
    if (bytes.length === 0) throw new ImageUrlError('the data: URL holds no bytes');
    return { kind: 'inline', bytes, mediaType };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ImageUrlError(`"${url.slice(0, 80)}" is neither a data: URL nor an http(s) URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ImageUrlError(`image URLs must be data: or http(s):, got ${parsed.protocol}`);
  if (!opts.allowRemote) throw new RemoteImageRefusedError(url);
  return { kind: 'remote', url: parsed };
}
