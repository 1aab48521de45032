import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDocuments, type DocSource } from '../../src/data/build-docs.js';
import { InterruptedError } from '../../src/data/errors.js';
import { readDocs } from '../../src/data/manifest.js';
import type { RawDoc } from '../../src/data/types.js';
import { chineseText, englishText, tempDir } from './helpers.js';

function source(name: string, docs: RawDoc[], extra: Partial<DocSource> = {}): DocSource {
  return {
    name,
    bucket: 'test',
    license: 'CC0-1.0',
    origin: 'generated',
    fingerprint: 'v1',
    docs: () => docs,
    ...extra,
  };
}

const english = Array.from({ length: 300 }, (_, i) => ({ text: englishText(i, 80) }));
const poems = Array.from({ length: 200 }, (_, i) => ({ id: `p${i}`, text: chineseText(1000 + i) }));

async function all(dir: string, name: string, split: 'train' | 'val'): Promise<string[]> {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    sources: Record<string, never>;
  };
  const out: string[] = [];
  for await (const d of readDocs(dir, m.sources[name], split)) out.push(d.text);
  return out;
}

describe('buildDocuments', () => {
  it('cleans, dedups within and across sources, splits, and records counts and licenses', async () => {
    const dir = tempDir();
    const withDups = [
      ...english,
      { text: english[3].text.toUpperCase() },
      { text: 'short' },
      { text: '%%%% #### @@@@ !!!! **** ^^^^ ~~~~ $$$$ &&&&' },
    ];
    const other = [{ text: english[5].text }, ...poems, { text: poems[0].text.replace(/，/g, ', ') }];
    const m = await buildDocuments(
      [source('en', withDups), source('zh', other, { clean: { minChars: 10 } })],
      { outDir: dir },
    );
    const en = m.sources.en;
    expect(en.dropped).toMatchObject({ exactDup: 1, short: 1, symbols: 1 });
    expect(en.duplicatesOf).toEqual({ en: 1 });
    expect(en.train.docs + en.val.docs).toBe(300);
    expect(en.val.docs).toBeGreaterThan(0);
    expect(m.sources.zh.duplicatesOf).toEqual({ en: 1, zh: 1 });
    expect(m.sources.zh.train.docs + m.sources.zh.val.docs).toBe(200);
    expect(m.order).toEqual(['en', 'zh']);
    expect(m.sources.zh.license).toBe('CC0-1.0');
    const zhTrain = await all(dir, 'zh', 'train');
    const zhVal = await all(dir, 'zh', 'val');
    expect(new Set([...zhTrain, ...zhVal]).size).toBe(200);
    expect(zhTrain.some((t) => zhVal.includes(t))).toBe(false);
  });

  it('holds out at least one document for validation when the hash chose none', async () => {
    const dir = tempDir();
    const m = await buildDocuments([source('tiny', english.slice(0, 3), { valFraction: 0.0001 })], {
      outDir: dir,
    });
    expect(m.sources.tiny.val.docs).toBe(1);
    expect(m.sources.tiny.train.docs).toBe(2);
  });

  it('is idempotent: a second run rebuilds nothing and leaves the files as they were', async () => {
    const dir = tempDir();
    const sources = [source('en', english), source('zh', poems, { clean: { minChars: 10 } })];
    await buildDocuments(sources, { outDir: dir });
    const before = fs.readFileSync(path.join(dir, 'zh.train.jsonl'));
    const logs: string[] = [];
    await buildDocuments(sources, { outDir: dir, log: (l) => logs.push(l) });
    expect(logs.filter((l) => l.includes('up to date'))).toHaveLength(2);
    expect(fs.readFileSync(path.join(dir, 'zh.train.jsonl')).equals(before)).toBe(true);
    // A changed fingerprint rebuilds that source and the ones after it.
    const logs2: string[] = [];
    await buildDocuments([source('en', english, { fingerprint: 'v2' }), sources[1]], {
      outDir: dir,
      log: (l) => logs2.push(l),
    });
    expect(logs2.filter((l) => l.includes('up to date'))).toHaveLength(0);
    expect(fs.readFileSync(path.join(dir, 'zh.train.jsonl')).equals(before)).toBe(true);
  });

  it('resumes an interrupted build at the source it was on, with the same result', async () => {
    const fresh = tempDir();
    const sources = (ac?: AbortController): DocSource[] => [
      source('en', english),
      source('zh', poems, {
        clean: { minChars: 10 },
        *docs() {
          for (const [i, p] of poems.entries()) {
            if (i === 50) ac?.abort();
            yield p;
          }
        },
      }),
    ];
    await buildDocuments(sources(), { outDir: fresh });
    const dir = tempDir();
    const ac = new AbortController();
    await expect(buildDocuments(sources(ac), { outDir: dir, signal: ac.signal })).rejects.toThrow(
      InterruptedError,
    );
    expect(fs.existsSync(path.join(dir, 'en.train.jsonl'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'zh.train.jsonl'))).toBe(false);
    expect(fs.readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
    await buildDocuments(sources(), { outDir: dir });
    for (const f of ['en.train.jsonl', 'en.val.jsonl', 'zh.train.jsonl', 'zh.val.jsonl']) {
      expect(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(fresh, f)))).toBe(true);
    }
  });
});
