/** UTF-8 helpers with SentencePiece's rules for malformed input. */

/** Length of the valid UTF-8 sequence at `pos` (no overlongs, surrogates or > U+10FFFF), or 0. */
export function validUtf8Length(b: ArrayLike<number>, pos: number, end = b.length): number {
  const c = b[pos];
  if (c < 0x80) return 1;
  let n: number;
  let cp: number;
  if (c >= 0xc2 && c < 0xe0) [n, cp] = [2, c & 0x1f];
  else if (c >= 0xe0 && c < 0xf0) [n, cp] = [3, c & 0x0f];
  else if (c >= 0xf0 && c < 0xf5) [n, cp] = [4, c & 0x07];
  else return 0;
  if (pos + n > end) return 0;
  for (let i = 1; i < n; i++) {
    const t = b[pos + i];
    if ((t & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (t & 0x3f);
  }
  if (
    (n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
    (n === 4 && (cp < 0x10000 || cp > 0x10ffff))
  ) {
    return 0;
  }
  return n;
}

const decoder = new TextDecoder();

/** Decodes bytes, each byte of a malformed sequence becoming U+FFFD (SentencePiece's ProcessBytePieces). */
export function decodeUtf8PerByte(bytes: ArrayLike<number>): string {
  const arr = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  let out = '';
  let runStart = 0;
  for (let i = 0; i < arr.length;) {
    const n = validUtf8Length(arr, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += decoder.decode(arr.subarray(runStart, i)) + '\uFFFD';
    i += 1;
    runStart = i;
  }
  return out + decoder.decode(arr.subarray(runStart));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces lone surrogates by U+FFFD, as a UTF-8 round trip would. */
export function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** Appends the UTF-8 bytes of a code point. */
export function pushUtf8(cp: number, out: number[]): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}
