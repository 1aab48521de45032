/**
 * Classical Chinese from the chinese-poetry package (MIT): Tang and Song shi, Song ci, Yuan qu, the Classic
 * of Poetry, Chu Ci, the Analects and the Four Books, and the primers (蒙学). Its JSON files differ in shape,
 * so one walker finds every object carrying lines of text (`paragraphs`, `para`, `content`) and takes the
 * title and author from it or its parents. Poems keep their line breaks: title, author, then the lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RawDoc } from '../types.js';

export interface Poem {
  title?: string;
  author?: string;
  lines: string[];
  /** The file it came from, relative to the package's dist/ folder. */
  file: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

function lines(v: unknown): string[] | undefined {
  if (typeof v === 'string' && v.trim()) return [v.trim()];
  if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string'))
    return v.map((x) => x.trim()).filter(Boolean);
  return undefined;
}

/** Every text-bearing object under `node`, depth-first in document order. */
export function* walkPoetry(
  node: unknown,
  file: string,
  parent: { title?: string; author?: string } = {},
): Generator<Poem> {
  if (Array.isArray(node)) {
    for (const child of node) yield* walkPoetry(child, file, parent);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const title = str(o.title) ?? str(o.rhythmic) ?? str(o.chapter);
  const here = {
    title: title ?? parent.title,
    author: str(o.author)?.replace(/^[^：:]{1,4}[：:]/, '') ?? parent.author,
  };
  const text = lines(o.paragraphs) ?? lines(o.para) ?? lines(o.content);
  if (text && text.length) {
    // A section title such as 卷一 is context, the poem's own title is the heading.
    yield { title: title ?? parent.title, author: here.author, lines: text, file };
    return;
  }
  for (const [key, child] of Object.entries(o)) {
    if (
      typeof child === 'object' &&
      child !== null &&
      key !== 'origin' &&
      key !== 'spells' &&
      key !== 'strains'
    )
      yield* walkPoetry(child, file, here);
  }
}

export function poemText(p: Poem): string {
  const head = [p.title, p.author].filter(Boolean).join('\n');
  return head ? `${head}\n${p.lines.join('\n')}` : p.lines.join('\n');
}

/** JSON files of the package matching `pattern` (relative to dist/), sorted with numeric awareness. */
export function poetryFiles(pkgDir: string, pattern: RegExp): string[] {
  const dist = path.join(pkgDir, 'dist');
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const rel = path.relative(dist, p).split(path.sep).join('/');
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json') && pattern.test(rel)) out.push(rel);
    }
  };
  walk(dist);
  return out.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export function* readPoems(pkgDir: string, pattern: RegExp): Generator<Poem> {
  for (const rel of poetryFiles(pkgDir, pattern)) {
    const json = JSON.parse(fs.readFileSync(path.join(pkgDir, 'dist', rel), 'utf8')) as unknown;
    yield* walkPoetry(json, rel);
  }
}

export function* poetryDocs(pkgDir: string, pattern: RegExp): Generator<RawDoc> {
  let n = 0;
  for (const p of readPoems(pkgDir, pattern))
    yield {
      id: `${p.file}:${n++}`,
      text: poemText(p),
      meta: p.title ? { title: p.title, author: p.author } : undefined,
    };
}

/** The file groups of the built-in sources. */
export const POETRY = {
  /** Curated classics and anthologies: the decay phase's high-quality Chinese. */
  classics:
    /^(lunyu|sishuwujing|mengxue|shijing|chuci|caocaoshiji|youmengying|nalanxingde|wudaishici|shuimotangshi)\/|^quantangshi\/唐诗三百首|^songci\/宋词三百首/,
  shi: /^quantangshi\/poet\.(tang|song)\.\d+\.json$|^yudingquantangshi\/json\//,
  ciQu: /^songci\/ci\.song\.\d+\.json$|^yuanqu\//,
  tangShi: /^quantangshi\/poet\.tang\.\d+\.json$/,
};

/** Poet biographies: classical (Tang/Song shi authors) or modern Chinese (Song ci authors). */
export function* poetBiographies(pkgDir: string, which: 'shi' | 'ci'): Generator<RawDoc> {
  const files =
    which === 'shi'
      ? ['quantangshi/authors.tang.json', 'quantangshi/authors.song.json']
      : ['songci/author.song.json'];
  for (const rel of files) {
    const p = path.join(pkgDir, 'dist', rel);
    if (!fs.existsSync(p)) continue;
    const list = JSON.parse(fs.readFileSync(p, 'utf8')) as {
      name?: string;
      desc?: string;
      description?: string;
    }[];
    for (const [i, a] of list.entries()) {
      const bio = str(a.desc) ?? str(a.description);
      if (a.name && bio) yield { id: `${rel}:${i}`, text: `${a.name}\n${bio}` };
    }
  }
}
