/**
 * Character classes for BPE training, after SentencePiece's IsValidSentencePiece: a piece never mixes
 * Unicode scripts (Han, Hiragana and Katakana count as one), digits stand alone under split_digits, and
 * numbers form their own class under split_by_number. Combining marks take the class of the character
 * before them.
 */
const SCRIPTS = [
  'Latin',
  'Han',
  'Cyrillic',
  'Greek',
  'Hangul',
  'Arabic',
  'Hebrew',
  'Thai',
  'Devanagari',
  'Bengali',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Gujarati',
  'Gurmukhi',
  'Oriya',
  'Sinhala',
  'Armenian',
  'Georgian',
  'Ethiopic',
  'Khmer',
  'Lao',
  'Myanmar',
  'Tibetan',
  'Mongolian',
  'Thaana',
  'Syriac',
  'Cherokee',
  'Runic',
  'Ogham',
  'Canadian_Aboriginal',
  'Yi',
  'Bopomofo',
  'Tifinagh',
  'Javanese',
  'Balinese',
] as const;
const SCRIPT_RES = SCRIPTS.map((s) => new RegExp(`^\\p{Script=${s}}$`, 'u'));
const KANA = /^[\p{Script=Hiragana}\p{Script=Katakana}\u30FC]$/u;
const INHERITED = /^\p{Script=Inherited}$/u;
const NUMBER = /^\p{N}$/u;

export const CLASS_COMMON = 0;
export const CLASS_INHERITED = -1;
export const CLASS_NUMBER = 200;
export const CLASS_DIGIT = 201;
const HAN = 1 + SCRIPTS.indexOf('Han');

export interface CharClassOptions {
  splitDigits: boolean;
  splitByNumber: boolean;
  splitByUnicodeScript: boolean;
}

/** Classifies code points, caching each answer. */
export class CharClasses {
  private readonly cache = new Map<number, number>();
  constructor(private readonly o: CharClassOptions) {}

  of(cp: number): number {
    let c = this.cache.get(cp);
    if (c === undefined) {
      c = this.compute(cp);
      this.cache.set(cp, c);
    }
    return c;
  }

  private compute(cp: number): number {
    const ch = String.fromCodePoint(cp);
    if (this.o.splitDigits && cp >= 0x30 && cp <= 0x39) return CLASS_DIGIT;
    if (this.o.splitByNumber && NUMBER.test(ch)) return CLASS_NUMBER;
    if (!this.o.splitByUnicodeScript) return CLASS_COMMON;
    if (INHERITED.test(ch)) return CLASS_INHERITED;
    if (KANA.test(ch)) return HAN;
    for (let i = 0; i < SCRIPT_RES.length; i++) if (SCRIPT_RES[i].test(ch)) return i + 1;
    return CLASS_COMMON;
  }
}
