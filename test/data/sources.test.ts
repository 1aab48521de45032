import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../../src/data/errors.js';
import { openLocalSource, type LocalSourceSpec } from '../../src/data/sources/local.js';
import type { RawDoc } from '../../src/data/types.js';
import { writeTree } from './helpers.js';

async function collect(spec: LocalSourceSpec, logs: string[] = []): Promise<RawDoc[]> {
  const out: RawDoc[] = [];
  for await (const d of openLocalSource(spec, (l) => logs.push(l))) out.push(d);
  return out;
}

describe('local sources', () => {
  it('reads text folders recursively in sorted order, decoding each file and skipping binaries and hidden folders', async () => {
    const root = writeTree({
      'b.txt': 'second',
      'a/z.md': 'first',
      'c.bin.txt': new Uint8Array([0x61, 0, 0x62]),
      '.git/x.txt': 'hidden',
      'node_modules/y.txt': 'dependency',
      'gbk.txt': new Uint8Array([0xc4, 0xe3, 0xba, 0xc3]),
      'image.png': 'not text',
    });
    const logs: string[] = [];
    const docs = await collect({ type: 'text', path: root }, logs);
    expect(docs.map((d) => [d.id, d.text])).toEqual([
      [path.join('a', 'z.md'), 'first'],
      ['b.txt', 'second'],
      ['gbk.txt', '你好'],
    ]);
    expect(logs.join()).toMatch(/binary/);
    expect((await collect({ type: 'text', path: path.join(root, 'b.txt') }))[0].text).toBe('second');
  });

  it('reads JSONL (and .jsonl.gz) with a dotted text field, skipping bad lines with a message', async () => {
    const lines = ['{"text":"one"}', '', '{"meta":{"body":"x"}}', 'not json', '{"text":"two"}'].join('\n');
    const root = writeTree({ 'a.jsonl': lines, 'b.jsonl.gz': zlib.gzipSync('{"text":"three"}\n') });
    const logs: string[] = [];
    const docs = await collect({ type: 'jsonl', path: root }, logs);
    expect(docs.map((d) => d.text)).toEqual(['one', 'two', 'three']);
    expect(docs[1].id).toBe('a.jsonl:5');
    expect(logs.some((l) => l.includes('a.jsonl:4') && l.includes('not valid JSON'))).toBe(true);
    expect(logs.some((l) => l.includes('no string field "text"'))).toBe(true);
    const nested = await collect({ type: 'jsonl', path: path.join(root, 'a.jsonl'), field: 'meta.body' });
    expect(nested.map((d) => d.text)).toEqual(['x']);
  });

  it('reads a Parquet text column row group by row group', async () => {
    const texts = Array.from({ length: 25 }, (_, i) => `document number ${i} 文本`);
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: texts.map((_, i) => i), type: 'INT32' },
        { name: 'content', data: texts, type: 'STRING' },
      ],
      rowGroupSize: 10,
    });
    const root = writeTree({ 'part-0.parquet': new Uint8Array(buf) });
    const docs = await collect({ type: 'parquet', path: root, field: 'content' });
    expect(docs.map((d) => d.text)).toEqual(texts);
    expect(docs[12].id).toBe('part-0.parquet:12');
    await expect(collect({ type: 'parquet', path: root })).rejects.toThrow(
      /no column "text"; columns are id, content/,
    );
    fs.writeFileSync(path.join(root, 'broken.parquet'), 'PAR1 not really');
    await expect(
      collect({ type: 'parquet', path: path.join(root, 'broken.parquet'), field: 'content' }),
    ).rejects.toThrow(SourceError);
  });

  it('says what is wrong with a missing path or an empty folder', async () => {
    await expect(collect({ type: 'text', path: '/no/such/place' })).rejects.toThrow(/no such file or folder/);
    await expect(collect({ type: 'jsonl', path: writeTree({ 'a.txt': 'x' }) })).rejects.toThrow(/no .jsonl/);
  });
});
