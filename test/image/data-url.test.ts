/** Image URLs from OpenAI content parts: inline data decodes, remote URLs are refused unless allowed. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage, ImageUrlError, parseImageUrl, RemoteImageRefusedError } from '../../src/image/index.js';

const PNG = fs.readFileSync(path.resolve(import.meta.dirname, '../fixtures/image/rgb.png'));

describe('parseImageUrl', () => {
  it('decodes a base64 data: URL to the same pixels as the file', async () => {
    const src = parseImageUrl(`data:image/png;base64,${PNG.toString('base64')}`);
    expect(src.kind).toBe('inline');
    if (src.kind !== 'inline') return;
    expect(src.mediaType).toBe('image/png');
    expect(Buffer.from(src.bytes).equals(PNG)).toBe(true);
    expect((await decodeImage(src.bytes)).data).toEqual((await decodeImage(PNG)).data);
  });

  it('refuses remote URLs unless allowed, and other schemes always', () => {
    expect(() => parseImageUrl('https://example.com/cat.png')).toThrow(RemoteImageRefusedError);
    const ok = parseImageUrl('https://example.com/cat.png', { allowRemote: true });
    expect(ok.kind === 'remote' && ok.url.hostname).toBe('example.com');
    expect(() => parseImageUrl('file:///etc/passwd', { allowRemote: true })).toThrow(ImageUrlError);
    expect(() => parseImageUrl('not a url')).toThrow(ImageUrlError);
  });

  it('refuses malformed data: URLs with messages that say what to send', () => {
    expect(() => parseImageUrl('data:text/plain;base64,aGk=')).toThrow(/not an image/);
    expect(() => parseImageUrl('data:image/png,rawbytes')).toThrow(/base64/);
    expect(() => parseImageUrl('data:image/png;base64')).toThrow(/comma/);
    expect(() => parseImageUrl('data:image/png;base64,@@@')).toThrow(/not valid base64/);
    expect(() => parseImageUrl('data:image/png;base64,')).toThrow(/no bytes/);
    expect(() => parseImageUrl(`data:image/png;base64,${PNG.toString('base64')}`, { maxBytes: 100 })).toThrow(
      /over 100 bytes/,
    );
  });
});
