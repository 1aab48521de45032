/**
 * Text cleaning: one canonical form for every document (NFC, `\n` line ends, no control characters, no
 * trailing spaces, at most one blank line), then filters that drop what a model should not learn from
 * (too short, mostly symbols, mojibake), and a splitter that cuts very long documents at paragraph breaks.
 */

export interface CleanOptions {
  /** Drop documents shorter than this many characters after normalization. */
  minChars: number;
  /** Split longer documents at paragraph (then line) boundaries into pieces of at most this size. */
  maxChars: number;
  /** Drop documents where letters and digits are less than this share of non-space characters. */
  minLetterFraction: number;
  /** Drop documents where U+FFFD (undecodable bytes) is more than this share of characters. */
  maxReplacementFraction: number;
}

export const defaultCleanOptions: CleanOptions = {
  minChars: 32,
  maxChars: 64_000,
  minLetterFraction: 0.5,
  maxReplacementFraction: 0.01,
};

export type DropReason = 'short' | 'symbols' | 'mojibake';

const CONTROL = /[\u0000-\u0008\u000E-\u001F\u007F-\u009F\u200B\uFEFF\uFFFE\uFFFF]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The canonical form of a text. Tabs and newlines are kept: code and poetry need them. */
export function normalizeText(text: string): string {
  return text
    .replace(/\r\n?|[\u2028\u2029\u000B\u000C]/g, '\n')
    .replace(LONE_SURROGATE, '\uFFFD')
    .normalize('NFC')
    .replace(CONTROL, '')
    .replace(/[ \t\u00A0\u3000]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/^(?:[ \t]*\n)+/, '')
    .trimEnd();
}

function isLetterOrDigit(c: number, ch: string): boolean {
  if (c < 0x80) return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
  if (c >= 0x3400 && c <= 0x9fff) return true; // CJK ideographs, the bulk of non-ASCII text here
  return /[\p{L}\p{N}\p{M}]/u.test(ch);
}

/** Share of letters/digits among non-whitespace characters, and of U+FFFD among all characters. */
export function textStats(text: string): { letterFraction: number; replacementFraction: number } {
  let visible = 0;
  let letters = 0;
  let replacement = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c === 32 || c === 10 || c === 9) continue;
    visible++;
    if (c === 0xfffd) replacement++;
    else if (isLetterOrDigit(c, ch)) letters++;
  }
  return {
    letterFraction: visible ? letters / visible : 0,
    replacementFraction: text.length ? replacement / text.length : 0,
  };
}

/** Cut at the last separator before `max`, else hard at `max` (never inside a surrogate pair). */
function cutPoint(text: string, max: number): number {
  for (const sep of ['\n\n', '\n', '。', '. ', ' ']) {
    const i = text.lastIndexOf(sep, max - sep.length);
    if (i > max / 2) return i + sep.length;
  }
  const code = text.charCodeAt(max - 1);
  return code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
}

/** Pieces of at most `maxChars`, cut at paragraph breaks where possible; deterministic. */
export function splitLong(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > maxChars) {
    const cut = cutPoint(rest, maxChars);
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\n+/, '');
  }
  if (rest.length) out.push(rest);
  return out;
}

export type CleanResult = { ok: true; pieces: string[] } | { ok: false; reason: DropReason };

/** Normalize, filter and split one document. */
export function cleanDocument(text: string, options: CleanOptions = defaultCleanOptions): CleanResult {
  const t = normalizeText(text);
  if (t.length < options.minChars) return { ok: false, reason: 'short' };
  const s = textStats(t);
  if (s.replacementFraction > options.maxReplacementFraction) return { ok: false, reason: 'mojibake' };
  if (s.letterFraction < options.minLetterFraction) return { ok: false, reason: 'symbols' };
  const pieces = splitLong(t, options.maxChars).filter((p) => p.length >= Math.min(options.minChars, 16));
  return pieces.length ? { ok: true, pieces } : { ok: false, reason: 'short' };
}
