import { describe, expect, it } from 'vitest';
import { Deduplicator, exactKey } from '../../src/data/dedup/dedup.js';
import { minhash, similarity, unitHashes } from '../../src/data/dedup/minhash.js';
import { chineseText, englishText } from './helpers.js';

/** Exact Jaccard similarity of word 3-shingle sets, to check the MinHash estimate against. */
function jaccard(a: string, b: string): number {
  const sh = (t: string): Set<string> => {
    const w = t.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    return new Set(w.slice(0, -2).map((_, i) => w.slice(i, i + 3).join(' ')));
  };
  const [x, y] = [sh(a), sh(b)];
  let inter = 0;
  for (const s of x) if (y.has(s)) inter++;
  return inter / (x.size + y.size - inter);
}

describe('MinHash', () => {
  it('treats CJK characters and words as units, ignoring punctuation, case and spacing', () => {
    expect(unitHashes('Hello, WORLD!  hello').length).toBe(3);
    expect(unitHashes('床前明月光，疑是').length).toBe(7);
    expect(minhash('Hello,   world and all')).toEqual(minhash('hello world -- AND all'));
  });

  it('estimates Jaccard similarity', () => {
    const a = englishText(1, 400);
    const words = a.split(' ');
    for (let i = 0; i < words.length; i += 10) words[i] = 'changed';
    const b = words.join(' ');
    const est = similarity(
      minhash(a, { numHashes: 256, shingle: 3 }),
      minhash(b, { numHashes: 256, shingle: 3 }),
    );
    expect(Math.abs(est - jaccard(a, b))).toBeLessThan(0.1);
    expect(similarity(minhash(a), minhash(englishText(2, 400)))).toBeLessThan(0.2);
  });
});

describe('Deduplicator', () => {
  it('drops exact duplicates up to case and whitespace, naming the source that kept the first copy', () => {
    const d = new Deduplicator();
    const t = englishText(3);
    expect(d.check(t, 'books')).toEqual({ duplicate: false });
    expect(d.check(`  ${t.toUpperCase()}\n`, 'mail')).toEqual({
      duplicate: true,
      kind: 'exact',
      of: 'books',
    });
    expect(exactKey(t)).toBe(exactKey(t.replace(/ /g, '\n')));
  });

  it('drops near duplicates within and across sources and keeps distinct documents', () => {
    const d = new Deduplicator();
    const docs = Array.from({ length: 200 }, (_, i) => englishText(100 + i, 200));
    for (const t of docs) expect(d.check(t, 'a').duplicate).toBe(false);
    // A copy with a few words changed and a header line added: a near duplicate.
    const edited =
      'Forwarded message\n' +
      docs[17]
        .replace(/ the /g, ' THE ')
        .split(' ')
        .map((w, i) => (i % 40 === 5 ? 'zzz' : w))
        .join(' ');
    expect(d.check(edited, 'b')).toEqual({ duplicate: true, kind: 'near', of: 'a' });
    const poem = chineseText(5, 8);
    expect(d.check(poem, 'b').duplicate).toBe(false);
    expect(d.check(poem.replace(/，/g, ',').replace('。', '!'), 'b')).toEqual({
      duplicate: true,
      kind: 'near',
      of: 'b',
    });
    expect(d.size).toBe(201);
  });

  it('does only the exact check when near matching is off', () => {
    const d = new Deduplicator();
    d.check('What is 12 + 30? 42', 'instruct', false);
    expect(d.check('What is 12 + 30?  42', 'instruct', false).duplicate).toBe(true);
    expect(d.check('What is 12 + 31? 43', 'instruct', false).duplicate).toBe(false);
  });
});
