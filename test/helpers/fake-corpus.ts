/** Fake, tiny installed corpus packages, so a corpus builds offline (the corpus and demo tests). */
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGES } from '../../src/data/corpus/catalog.js';
import { packageDir } from '../../src/data/corpus/npm-install.js';
import { chineseText, englishText } from '../data/helpers.js';

/** Fake, tiny versions of the corpus packages, placed where the installer looks, so no network is needed. */
export function fakeInstalledPackages(corpusDir: string): void {
  const put = (pkg: { name: string; version: string }, files: Record<string, string>): void => {
    const dir = packageDir(corpusDir, pkg);
    for (const [rel, content] of Object.entries({ 'package.json': JSON.stringify(pkg), ...files })) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
  };
  const chapters: Record<string, string> = {};
  for (let i = 1; i <= 6; i++)
    chapters[`data/chapter_${i}.json`] = JSON.stringify({
      chapter: String(i),
      title: `Title ${i}.`,
      text: englishText(i, 150),
    });
  put(PACKAGES.mobyDick, chapters);
  put(PACKAGES.sotu, {
    'data/1790_george_washington_n.json': JSON.stringify({
      year: 1790,
      name: 'George Washington',
      party: 'n',
      text: englishText(50, 300),
    }),
    'data/1791_george_washington_n.json': JSON.stringify({
      year: 1791,
      name: 'George Washington',
      party: 'n',
      text: englishText(51, 300),
    }),
  });
  put(PACKAGES.spamAssassin, {
    'data/easy-ham-1/00001.abc.txt': `From x\nSubject: hello\n\n${englishText(60, 80)}\n`,
    'data/spam-1/00001.txt': 'Subject: buy\n\nBUY NOW cheap pills for everyone today',
  });
  put(PACKAGES.brown, {
    ca01: englishText(70, 100)
      .split(' ')
      .map((w) => `${w}/nn`)
      .join(' '),
    ca02: englishText(71, 100)
      .split(' ')
      .map((w) => `${w}/nn`)
      .join(' '),
    'cats.txt': 'ca01 news\nca02 news\n',
  });
  const wn = ['  1 license header line'];
  const words = ['aardvark', 'zebra', 'walrus', 'okapi', 'lemur', 'tapir'];
  words.forEach((w, i) =>
    wn.push(
      `0000000${i} 05 n 01 ${w} 0 000 | a ${w} is an animal number ${i} of a long list of animals; "see the ${w}"`,
    ),
  );
  put(PACKAGES.wordnet, { 'dict/data.noun': wn.join('\n') + '\n' });
  const tang = Array.from({ length: 40 }, (_, i) => ({
    title: `詩${i}`,
    author: ['李白', '杜甫', '王維'][i % 3],
    paragraphs: chineseText(900 + i, 2).split('\n'),
  }));
  put(PACKAGES.poetry, {
    'dist/quantangshi/poet.tang.0.json': JSON.stringify(tang),
    'dist/quantangshi/authors.tang.json': JSON.stringify([
      { name: '李白', desc: '李白，字太白，隴西成紀人。天寶初，召見於金鑾殿。' },
    ]),
    'dist/songci/ci.song.0.json': JSON.stringify([
      { author: '苏轼', rhythmic: '水调歌头', paragraphs: chineseText(990, 3).split('\n') },
    ]),
    'dist/songci/author.song.json': JSON.stringify([
      { name: '苏轼', description: '苏轼是北宋著名文学家、书法家、画家，字子瞻，号东坡居士。' },
    ]),
    'dist/lunyu/lunyu.json': JSON.stringify([
      { chapter: '学而篇', paragraphs: ['子曰：“学而时习之，不亦说乎？有朋自远方来，不亦乐乎？”'] },
    ]),
  });
  const code = (i: number): string =>
    `function f${i}(x) {\n  return x * ${i} + compute(x, ${i});\n}\n`.repeat(4);
  put(PACKAGES.typescript, {
    'lib/typescript.js': `// src/compiler/a.ts\n${code(1)}// src/compiler/b.ts\n${code(2)}`,
    'lib/_tsc.js': `// src/compiler/a.ts\n${code(1)}`,
    'lib/lib.es5.d.ts': `interface Array<T> {\n  length: number;\n  push(...items: T[]): number;\n}\n`.repeat(
      3,
    ),
    'lib/zh-cn/diagnosticMessages.generated.json': JSON.stringify({
      a: '找不到名称“{0}”。你是否指的是“{1}”?',
      b: '此表达式不可调用，因为它是一个类型。',
    }),
  });
  put(PACKAGES.typesNode, {
    'fs.d.ts': `declare module 'fs' {\n  export function readFileSync(path: string): Buffer;\n}\n`.repeat(3),
  });
  put(PACKAGES.rxjs, {
    'src/internal/map.ts':
      `export function map<T, R>(project: (value: T) => R) {\n  return (source: T[]) => source.map(project);\n}\n`.repeat(
        3,
      ),
  });
}
