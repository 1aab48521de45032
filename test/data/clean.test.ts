import { describe, expect, it } from 'vitest';
import { cleanDocument, normalizeText, splitLong, textStats } from '../../src/data/clean.js';
import { decodeBytes, looksBinary } from '../../src/data/decode.js';

describe('normalizeText', () => {
  it('unifies line ends, strips control characters and BOMs, trims trailing spaces, collapses blank lines', () => {
    const raw = '\uFEFF\n\nTitle\r\nline one  \rline\u0007 two\u0000\n\n\n\n\tindented\u200B code\u000C';
    expect(normalizeText(raw)).toBe('Title\nline one\nline two\n\n\tindented code');
  });

  it('composes to NFC and replaces lone surrogates', () => {
    expect(normalizeText('cafe\u0301')).toBe('caf\u00e9');
    expect(normalizeText('a\uD800b')).toBe('a\uFFFDb');
    expect(normalizeText('😀 ok')).toBe('😀 ok');
  });
});

describe('cleanDocument', () => {
  const opts = { minChars: 20, maxChars: 200, minLetterFraction: 0.5, maxReplacementFraction: 0.01 };

  it('drops short, symbol-heavy and mojibake documents with the reason', () => {
    expect(cleanDocument('too short', opts)).toEqual({ ok: false, reason: 'short' });
    expect(cleanDocument('#### ---- **** ==== //// ++++ ;;;; a', opts)).toEqual({
      ok: false,
      reason: 'symbols',
    });
    expect(cleanDocument('bad bytes \uFFFD\uFFFD everywhere in this text ok', opts)).toEqual({
      ok: false,
      reason: 'mojibake',
    });
  });

  it('counts CJK as letters', () => {
    expect(textStats('床前明月光，疑是地上霜。').letterFraction).toBeCloseTo(10 / 12);
    expect(
      cleanDocument('床前明月光，疑是地上霜。举头望明月，低头思故乡。', { ...opts, minChars: 10 }).ok,
    ).toBe(true);
  });

  it('splits long documents at paragraph breaks into pieces within maxChars', () => {
    const para = (c: string): string => c.repeat(70);
    const text = [para('a'), para('b'), para('c'), para('d')].join('\n\n');
    const pieces = splitLong(text, 160);
    expect(pieces).toEqual([`${para('a')}\n\n${para('b')}`, `${para('c')}\n\n${para('d')}`]);
    const r = cleanDocument(text, opts);
    expect(r.ok && r.pieces.every((p) => p.length <= 200)).toBe(true);
  });

  it('hard-cuts text without separators and never splits a surrogate pair', () => {
    const pieces = splitLong('😀'.repeat(50), 31);
    expect(pieces.join('')).toBe('😀'.repeat(50));
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(31);
    expect(pieces.every((p) => !/[\uD800-\uDBFF]$/.test(p))).toBe(true);
  });
});

describe('decodeBytes', () => {
  it('reads UTF-8 (with or without BOM) and UTF-16 with BOM', () => {
    expect(decodeBytes(Buffer.from('héllo 你好'))).toEqual({ text: 'héllo 你好', encoding: 'utf-8' });
    expect(decodeBytes(Buffer.from('\uFEFFabc')).text).toBe('abc');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('ab你', 'utf16le')]);
    expect(decodeBytes(le)).toEqual({ text: 'ab你', encoding: 'utf-16le' });
  });

  it('recognises GB18030 Chinese and falls back to Windows-1252 for Latin text', () => {
    const gbk = new Uint8Array([0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7]); // 你好世界
    expect(decodeBytes(gbk)).toEqual({ text: '你好世界', encoding: 'gb18030' });
    const latin = Buffer.from('caf\xe9 na\xefve r\xe9sum\xe9', 'latin1');
    expect(decodeBytes(latin)).toEqual({ text: 'café naïve résumé', encoding: 'windows-1252' });
  });

  it('detects binary files by NUL bytes', () => {
    expect(looksBinary(new Uint8Array([1, 2, 0, 3]))).toBe(true);
    expect(looksBinary(Buffer.from('text'))).toBe(false);
  });
});
