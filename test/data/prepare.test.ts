import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ByteEncoder } from '../../src/data/byte-encoder.js';
import { InterruptedError, ShardError } from '../../src/data/errors.js';
import { readDocs, readManifest } from '../../src/data/manifest.js';
import { parseMixture } from '../../src/data/mixture.js';
import { readShard, readShardIndex } from '../../src/data/shards/format.js';
import { prepareMixture } from '../../src/data/shards/prepare.js';
import { mixtureFor, smallCorpus, tempDir } from './helpers.js';

function filesOf(dir: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.bin')) out[path.relative(dir, p)] = fs.readFileSync(p);
    }
  };
  walk(dir);
  return out;
}

describe('prepareMixture', () => {
  it('writes uint16 shards of BOS + doc + EOS with an index of documents and tokens per source', async () => {
    const root = smallCorpus();
    const out = tempDir();
    const enc = new ByteEncoder();
    const idx = await prepareMixture({
      mixture: mixtureFor(root),
      encoder: enc,
      tokenizerPath: 'bytes',
      output: out,
      shardTokens: 4000,
    });
    expect(idx.dtype).toBe('uint16');
    expect(Object.keys(idx.sources)).toEqual(['notes', 'poems']);
    expect(idx.sources.poems.bucket).toBe('zh-classical');
    expect(idx.sources.notes.license).toBe('CC0-1.0');
    expect(idx.mixtures['test-stable']).toEqual({
      phase: 'stable',
      weights: { notes: 2, poems: 1 },
      tokens: 100_000,
      description: undefined,
    });
    expect(readShardIndex(out)).toEqual(idx);
    // Decode the poems' train shards back: BOS + UTF-8 bytes + EOS per document, in document order.
    const docsDir = path.join(out, 'docs');
    const manifest = readManifest(docsDir)!;
    const texts: string[] = [];
    for await (const d of readDocs(docsDir, manifest.sources.poems, 'train')) texts.push(d.text);
    const ids = idx.sources.poems.train.shards.flatMap((s) => [...readShard(out, idx, s)]);
    const expected = texts.flatMap((t) => [1, ...enc.encode(t), 2]);
    expect(ids).toEqual(expected);
    const p = idx.sources.poems.train;
    expect(p.docs).toBe(texts.length);
    expect(p.tokens).toBe(expected.length);
    expect(p.shards.length).toBeGreaterThan(1);
    expect(p.shards.reduce((a, s) => a + s.docs, 0)).toBe(p.docs);
    expect(p.textBytes).toBe(texts.reduce((a, t) => a + Buffer.byteLength(t), 0));
    expect(idx.sources.poems.val.docs).toBeGreaterThan(0);
  });

  it('uses uint32 when the vocabulary does not fit in 16 bits', async () => {
    const root = smallCorpus();
    const out = tempDir();
    const big = {
      bosId: 70_000,
      eosId: 70_001,
      vocabSize: 70_002,
      encode: (t: string) => [...t].map((c) => 100 + (c.codePointAt(0)! % 60_000)),
    };
    const idx = await prepareMixture({
      mixture: mixtureFor(root),
      encoder: big,
      tokenizerPath: 'big',
      output: out,
    });
    expect(idx.dtype).toBe('uint32');
    const ids = readShard(out, idx, idx.sources.notes.train.shards[0]);
    expect(ids).toBeInstanceOf(Uint32Array);
    expect(ids[0]).toBe(70_000);
  });

  it('is deterministic, and an interrupted run resumes to the same shards', async () => {
    const root = smallCorpus();
    const a = tempDir();
    await prepareMixture({
      mixture: mixtureFor(root),
      encoder: new ByteEncoder(),
      tokenizerPath: 'bytes',
      output: a,
      shardTokens: 3000,
    });
    const ac = new AbortController();
    let calls = 0;
    const flaky = new ByteEncoder();
    const encode = flaky.encode.bind(flaky);
    flaky.encode = (t: string) => {
      if (++calls === 90) ac.abort();
      return encode(t);
    };
    const b = tempDir();
    await expect(
      prepareMixture({
        mixture: mixtureFor(root),
        encoder: flaky,
        tokenizerPath: 'bytes',
        output: b,
        shardTokens: 3000,
        signal: ac.signal,
      }),
    ).rejects.toThrow(InterruptedError);
    const logs: string[] = [];
    await prepareMixture({
      mixture: mixtureFor(root),
      encoder: new ByteEncoder(),
      tokenizerPath: 'bytes',
      output: b,
      shardTokens: 3000,
      log: (l) => logs.push(l),
    });
    expect(logs.some((l) => /resuming after \d+ documents/.test(l))).toBe(true);
    expect(filesOf(b)).toEqual(filesOf(a));
    expect(readShardIndex(b).sources).toEqual(readShardIndex(a).sources);
  });

  it('adds a second phase to the same folder, tokenizing only the new sources, and refuses another tokenizer', async () => {
    const root = smallCorpus();
    const out = tempDir();
    const stable = parseMixture(
      { name: 's', phase: 'stable', sources: { notes: { weight: 1, type: 'text', path: 'notes' } } },
      path.join(root, 's.json'),
    );
    await prepareMixture({
      mixture: stable,
      encoder: new ByteEncoder(),
      tokenizerPath: 'bytes',
      output: out,
    });
    const logs: string[] = [];
    const decay = mixtureFor(root, 'd');
    const idx = await prepareMixture({
      mixture: decay,
      encoder: new ByteEncoder(),
      tokenizerPath: 'bytes',
      output: out,
      log: (l) => logs.push(l),
    });
    expect(Object.keys(idx.mixtures)).toEqual(['s', 'd']);
    expect(Object.keys(idx.sources).sort()).toEqual(['notes', 'poems']);
    const other = { ...new ByteEncoder(), encode: (t: string) => new ByteEncoder().encode(t).reverse() };
    await expect(
      prepareMixture({ mixture: decay, encoder: other, tokenizerPath: 'other', output: out }),
    ).rejects.toThrow(ShardError);
  });
});
