/**
 * Source code from npm packages. The TypeScript compiler ships readable bundles whose esbuild markers
 * (`// src/compiler/checker.ts`) delimit the original files, so a bundle is cut back into one document per
 * source file (and the same file in two bundles dedups exactly). Declaration files and library sources are
 * one document per file. TypeScript's localized diagnostic messages are a rare bit of modern Chinese.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listFiles } from '../fs-util.js';
import type { RawDoc } from '../types.js';

const MARKER = /^\/\/ (src\/[^\s]+\.ts)$/gm;

/** Split an esbuild bundle at its `// src/...` file markers; text before the first marker is its own piece. */
export function splitBundle(text: string): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const marks = [...text.matchAll(MARKER)];
  if (!marks.length) return [{ name: '', text }];
  if (marks[0].index > 0) out.push({ name: '(prelude)', text: text.slice(0, marks[0].index) });
  for (let i = 0; i < marks.length; i++) {
    const end = i + 1 < marks.length ? marks[i + 1].index : text.length;
    out.push({ name: marks[i][1], text: text.slice(marks[i].index, end) });
  }
  return out;
}

/** typescript@5: lib/*.js bundles split per source file, then lib/*.d.ts declaration files. */
export function* typescriptDocs(pkgDir: string): Generator<RawDoc> {
  const lib = path.join(pkgDir, 'lib');
  const names = fs.readdirSync(lib).sort();
  for (const f of names.filter((n) => n.endsWith('.js'))) {
    for (const piece of splitBundle(fs.readFileSync(path.join(lib, f), 'utf8')))
      yield { id: `lib/${f}:${piece.name}`, text: piece.text };
  }
  for (const f of names.filter((n) => n.endsWith('.d.ts')))
    yield { id: `lib/${f}`, text: fs.readFileSync(path.join(lib, f), 'utf8') };
}

/** Every file under `sub` of a package with one of the extensions (sorted), one document each. */
export function* packageFiles(pkgDir: string, sub: string, exts: string[], label: string): Generator<RawDoc> {
  const root = path.join(pkgDir, sub);
  if (!fs.existsSync(root)) return;
  for (const file of listFiles(root, (f) => exts.some((e) => f.endsWith(e)))) {
    yield {
      id: `${label}/${path.relative(pkgDir, file).split(path.sep).join('/')}`,
      text: fs.readFileSync(file, 'utf8'),
    };
  }
}

/** TypeScript's compiler messages in Simplified and Traditional Chinese, ~40 messages per document. */
export function* typescriptChineseMessages(pkgDir: string, perDoc = 40): Generator<RawDoc> {
  for (const locale of ['zh-cn', 'zh-tw']) {
    const file = path.join(pkgDir, 'lib', locale, 'diagnosticMessages.generated.json');
    if (!fs.existsSync(file)) continue;
    const messages = Object.values(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>);
    for (let i = 0; i < messages.length; i += perDoc)
      yield { id: `${locale}:${i / perDoc}`, text: messages.slice(i, i + perDoc).join('\n') };
  }
}
