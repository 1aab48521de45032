/**
 * Python `str` behaviour the UltraEval post-processors rely on, where JavaScript's differs: `strip()`
 * (Python's whitespace set includes \x1c-\x1f and \x85 and excludes U+FEFF), `split()` without a
 * separator, `isdigit()`, and `strip(chars)` / `rstrip(chars)`.
 */
const WS =
  '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEAD = new RegExp(`^[${WS}]+`);
const TRAIL = new RegExp(`[${WS}]+$`);
const RUNS = new RegExp(`[${WS}]+`);

export const pyStrip = (s: string): string => s.replace(LEAD, '').replace(TRAIL, '');

/** `s.split()`: runs of whitespace separate, no empty pieces. */
export const pySplit = (s: string): string[] => s.split(RUNS).filter((p) => p !== '');

/** `s.isdigit()`: non-empty and every character a decimal digit or a superscript/subscript digit. */
export const pyIsDigit = (s: string): boolean =>
  /^[\p{Nd}\u00b2\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089]+$/u.test(s);

const escape = (chars: string) => chars.replace(/[\\\]^-]/g, '\\$&');
export const pyStripChars = (s: string, chars: string): string =>
  s.replace(new RegExp(`^[${escape(chars)}]+|[${escape(chars)}]+$`, 'gu'), '');
export const pyRstripChars = (s: string, chars: string): string =>
  s.replace(new RegExp(`[${escape(chars)}]+$`, 'u'), '');

/** `s.split(sep)[-1]`. */
export const lastPiece = (s: string, sep: string): string => {
  const at = s.lastIndexOf(sep);
  return at < 0 ? s : s.slice(at + sep.length);
};
