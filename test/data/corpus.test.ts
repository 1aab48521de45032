import { describe, expect, it } from 'vitest';
import { buildCorpus, corpusDocsDir, corpusSummary } from '../../src/data/corpus/build-corpus.js';
import { splitBundle } from '../../src/data/corpus/code.js';
import { untagBrown } from '../../src/data/corpus/english.js';
import { authorText, decodeHeader, mailToText } from '../../src/data/corpus/mail.js';
import { poemText, walkPoetry } from '../../src/data/corpus/poetry.js';
import { entryText, parseSynsetLine } from '../../src/data/corpus/wordnet.js';
import { readInstructions } from '../../src/data/instruct/read.js';
import { readDocs } from '../../src/data/manifest.js';
import { fakeInstalledPackages } from '../helpers/fake-corpus.js';
import { tempDir } from './helpers.js';

describe('extractors', () => {
  it('untags the Brown Corpus back into running text', () => {
    const line =
      "\tThe/at jury/nn said/vbd ``/`` it's/pps+bez fine/jj ''/'' (/( mostly/rb )/) ,/, didn't/dod* it/pps ?/.";
    expect(untagBrown(line)).toBe('The jury said "it\'s fine" (mostly), didn\'t it?');
  });

  it('parses WordNet data lines into entries', () => {
    const line =
      '02084071 05 n 02 dog 0 domestic_dog 0 001 @ 02083346 n 0000 | a member of the genus Canis; "the dog barked all night"; "dogs bite"  ';
    const s = parseSynsetLine(line, 'noun')!;
    expect(s).toMatchObject({
      words: ['dog', 'domestic dog'],
      definition: 'a member of the genus Canis',
      examples: ['the dog barked all night', 'dogs bite'],
    });
    expect(entryText(s)).toBe(
      'dog, domestic dog (noun): a member of the genus Canis. Example: "the dog barked all night"; "dogs bite".',
    );
    expect(parseSynsetLine('  1 This software and database is being provided', 'noun')).toBeUndefined();
    const adj = parseSynsetLine('00001740 00 a 01 able(a) 0 000 | having the necessary means', 'adjective')!;
    expect(adj.words).toEqual(['able']);
  });

  it('finds every text-bearing object in the differently shaped poetry files', () => {
    const tang = [{ author: '李白', paragraphs: ['床前明月光，疑是地上霜。'], title: '靜夜思', id: 'x' }];
    const ci = [{ author: '苏轼', paragraphs: ['明月几时有？'], rhythmic: '水调歌头' }];
    const nested = {
      title: '古文觀止',
      content: [
        {
          title: '卷一',
          content: [{ chapter: '鄭伯克段於鄢', author: '先秦：左丘明 ', paragraphs: ['初，鄭武公娶於申。'] }],
        },
      ],
    };
    const shijing = [{ title: '关雎', chapter: '国风', content: ['关关雎鸠，在河之洲。'] }];
    expect([...walkPoetry(tang, 'a')].map(poemText)).toEqual(['靜夜思\n李白\n床前明月光，疑是地上霜。']);
    expect([...walkPoetry(ci, 'b')][0]).toMatchObject({ title: '水调歌头', author: '苏轼' });
    expect([...walkPoetry(nested, 'c')][0]).toMatchObject({
      title: '鄭伯克段於鄢',
      author: '左丘明',
      lines: ['初，鄭武公娶於申。'],
    });
    expect([...walkPoetry(shijing, 'd')][0].lines).toEqual(['关关雎鸠，在河之洲。']);
  });

  it('reduces raw mail to the author’s words: MIME, quoted-printable, quotes, signatures and footers handled', () => {
    const raw = [
      'From someone Thu Aug 22 2002',
      'Subject: [list] =?iso-8859-1?Q?Caf=E9?= meeting',
      'Content-Type: multipart/alternative; boundary="XX"',
      '',
      '--XX',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'On Monday, Bob wrote:',
      '> old text',
      'The caf=E9 opens at nine; write to bob@example.com for a seat. This line is long en=',
      'ough to wrap.',
      '-- ',
      'Alice, signature',
      '--XX',
      'Content-Type: text/html',
      '',
      '<p>html copy</p>',
      '--XX--',
    ].join('\n');
    expect(mailToText(raw)).toBe(
      'Subject: Café meeting\n\nThe café opens at nine; write to <email> for a seat. This line is long enough to wrap.',
    );
    expect(authorText('Hi\n_______________________________________________\nlist footer')).toBe('Hi');
    expect(decodeHeader('=?utf-8?B?5L2g5aW9?=')).toBe('你好');
  });

  it('cuts an esbuild bundle back into its source files', () => {
    const bundle = 'var x;\n// src/compiler/a.ts\nfunction a() {}\n// src/compiler/b.ts\nfunction b() {}\n';
    expect(splitBundle(bundle).map((p) => p.name)).toEqual([
      '(prelude)',
      'src/compiler/a.ts',
      'src/compiler/b.ts',
    ]);
    expect(splitBundle(bundle)[2].text).toBe('// src/compiler/b.ts\nfunction b() {}\n');
  });
});

describe('buildCorpus (with fake installed packages, offline)', () => {
  it('builds every source with licenses and buckets, dedups across bundles, and synthesizes instructions', async () => {
    const dir = tempDir();
    fakeInstalledPackages(dir);
    const logs: string[] = [];
    const m = await buildCorpus({ dir, log: (l) => logs.push(l), instructPerKind: 5 });
    expect(m.order).toEqual([
      'moby-dick',
      'brown',
      'wordnet',
      'sotu',
      'mail',
      'classics-zh',
      'tang-song-shi',
      'song-ci-yuan-qu',
      'zh-modern',
      'code-typescript',
      'code-libs',
      'instruct',
    ]);
    expect(m.sources['code-typescript'].duplicatesOf).toEqual({ 'code-typescript': 1 });
    expect(m.sources.mail.raw.docs).toBe(1);
    expect(m.sources['tang-song-shi'].train.docs + m.sources['tang-song-shi'].val.docs).toBe(41);
    expect(m.sources.wordnet.license).toMatch(/WordNet/);
    expect(m.sources['zh-modern'].bucket).toBe('zh');
    const docs: string[] = [];
    for await (const d of readDocs(corpusDocsDir(dir), m.sources['classics-zh'], 'train')) docs.push(d.text);
    for await (const d of readDocs(corpusDocsDir(dir), m.sources['classics-zh'], 'val')) docs.push(d.text);
    expect(docs).toEqual(['学而篇\n子曰：“学而时习之，不亦说乎？有朋自远方来，不亦乐乎？”']);
    const items = [
      ...(await readInstructions(corpusDocsDir(dir), 'train')),
      ...(await readInstructions(corpusDocsDir(dir), 'val')),
    ];
    expect(new Set(items.map((i) => i.kind))).toEqual(
      new Set(['definition', 'next-line', 'author', 'arithmetic']),
    );
    expect(items.every((i) => i.rejected.length > 0 && !i.rejected.includes(i.chosen))).toBe(true);
    expect(corpusSummary(m)).toMatch(/buckets: en .*missing: modern Chinese/s);
    // A second run finds everything installed and up to date.
    const again: string[] = [];
    await buildCorpus({ dir, log: (l) => again.push(l), instructPerKind: 5 });
    expect(again.every((l) => l.includes('up to date'))).toBe(true);
  });
});
