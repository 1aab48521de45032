import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByteEncoder } from '../../src/data/byte-encoder.js';
import { LoaderError, ShardError } from '../../src/data/errors.js';
import { PackedLoader, type LoaderState } from '../../src/data/loader.js';
import { readShard, readShardIndex } from '../../src/data/shards/format.js';
import { prepareMixture } from '../../src/data/shards/prepare.js';
import { mixtureFor, smallCorpus, tempDir } from './helpers.js';

let dir = '';
let streams: Record<string, number[]> = {};

beforeAll(async () => {
  dir = tempDir();
  await prepareMixture({
    mixture: mixtureFor(smallCorpus()),
    encoder: new ByteEncoder(),
    tokenizerPath: 'bytes',
    output: dir,
    shardTokens: 5000,
  });
  const idx = readShardIndex(dir);
  streams = Object.fromEntries(
    Object.values(idx.sources).map((s) => [
      s.name,
      s.train.shards.flatMap((sh) => [...readShard(dir, idx, sh)]),
    ]),
  );
});

const opts = (over: object = {}) => ({
  shardsDir: dir,
  split: 'train' as const,
  seqLen: 64,
  batchSize: 4,
  seed: 7,
  ...over,
});

/** Which source and window a row came from, found by searching the token streams. */
function locate(row: Int32Array, T: number): { source: string; window: number } {
  for (const [source, s] of Object.entries(streams)) {
    for (let w = 0; (w + 1) * T < s.length; w++)
      if (s[w * T] === row[0] && s.slice(w * T, w * T + T).every((v, i) => v === row[i]))
        return { source, window: w };
  }
  throw new Error('row not found in any stream');
}

describe('PackedLoader', () => {
  it('serves B×T inputs with targets shifted by one, cut from the packed streams', () => {
    const loader = new PackedLoader(opts());
    const b = loader.next();
    expect(b.inputs.length).toBe(4 * 64);
    expect(b.targets.length).toBe(4 * 64);
    expect(b).toMatchObject({ tokens: 256, batch: 4, seqLen: 64 });
    for (let r = 0; r < 4; r++) {
      const row = b.inputs.subarray(r * 64, r * 64 + 64);
      const { source, window } = locate(row, 64);
      const s = streams[source];
      expect([...b.targets.subarray(r * 64, r * 64 + 64)]).toEqual(
        s.slice(window * 64 + 1, window * 64 + 65),
      );
    }
    // Document boundaries are in the stream: EOS (2) followed by BOS (1).
    expect(streams.notes.join(',')).toContain('2,1');
    loader.close();
  });

  it('is deterministic given the seed and differs across seeds', () => {
    const a = new PackedLoader(opts());
    const b = new PackedLoader(opts());
    const c = new PackedLoader(opts({ seed: 8 }));
    const [x, y, z] = [a.next(), b.next(), c.next()];
    expect(x.inputs).toEqual(y.inputs);
    expect(x.inputs).not.toEqual(z.inputs);
  });

  it('restores from a JSON round trip of state() to exactly the next batch, across epochs', () => {
    const a = new PackedLoader(opts({ batchSize: 8, seqLen: 256 }));
    for (let i = 0; i < 30; i++) a.next(); // more than an epoch of the small poems source
    const state = JSON.parse(JSON.stringify(a.state())) as LoaderState;
    const expected = [a.next(), a.next(), a.next()];
    const b = PackedLoader.restore(state);
    for (const e of expected) expect(b.next().inputs).toEqual(e.inputs);
    const c = new PackedLoader(opts({ batchSize: 8, seqLen: 256 }));
    c.setState(state);
    expect(c.next().targets).toEqual(expected[0].targets);
    expect(Math.max(...Object.values(a.epochs()))).toBeGreaterThan(1);
  });

  it('visits every window once per epoch in a shuffled order', () => {
    const T = 64;
    const loader = new PackedLoader(opts({ mixture: { poems: 1 }, batchSize: 1 }));
    const windows = Math.floor((streams.poems.length - 1) / T);
    const seen = Array.from({ length: windows }, () => locate(loader.next().inputs, T).window);
    expect(new Set(seen).size).toBe(windows);
    expect(seen).not.toEqual([...seen].sort((p, q) => p - q));
    expect(loader.epochs().poems).toBe(1);
  });

  it('draws sources in proportion to the mixture weights', () => {
    const loader = new PackedLoader(opts({ mixture: { notes: 3, poems: 1 }, batchSize: 50, seqLen: 16 }));
    const counts = { notes: 0, poems: 0 };
    for (let i = 0; i < 8; i++) {
      const b = loader.next();
      for (let r = 0; r < 50; r++)
        counts[locate(b.inputs.subarray(r * 16, r * 16 + 16), 16).source as 'notes' | 'poems']++;
    }
    expect(counts.notes / 400).toBeGreaterThan(0.68);
    expect(counts.notes / 400).toBeLessThan(0.82);
  });

  it('uses a named mixture of the index, and reads validation in order', () => {
    const named = new PackedLoader(opts({ mixture: 'test-stable' }));
    expect(named.state().weights).toEqual({ notes: 2, poems: 1 });
    const val = new PackedLoader(opts({ split: 'val', mixture: { notes: 1 }, seqLen: 8, batchSize: 2 }));
    expect(val.state().shuffle).toBe(false);
    const idx = readShardIndex(dir);
    const stream = idx.sources.notes.val.shards.flatMap((s) => [...readShard(dir, idx, s)]);
    expect([...val.next().inputs]).toEqual(stream.slice(0, 16));
  });

  it('refuses impossible requests and mismatched states with messages that say what to do', () => {
    expect(() => new PackedLoader(opts({ mixture: 'nope' }))).toThrow(/no mixture "nope"/);
    expect(() => new PackedLoader(opts({ mixture: { missing: 1 } }))).toThrow(/no source "missing"/);
    expect(() => new PackedLoader(opts({ seqLen: 10_000_000 }))).toThrow(/fewer than seqLen \+ 1/);
    expect(() => new PackedLoader(opts({ shardsDir: tempDir() }))).toThrow(/data prepare/);
    const state = new PackedLoader(opts()).state();
    expect(() => new PackedLoader(opts({ seed: 1 })).setState(state)).toThrow(LoaderError);
    expect(() => new PackedLoader(opts()).setState({ ...state, tokens: { notes: 1, poems: 1 } })).toThrow(
      /prepared again/,
    );
  });

  it('refuses truncated shards and a corrupt index', () => {
    const copy = tempDir();
    fs.cpSync(dir, copy, { recursive: true });
    const idx = readShardIndex(copy);
    const shard = idx.sources.notes.train.shards[0];
    fs.truncateSync(path.join(copy, shard.file), 100);
    expect(() => new PackedLoader(opts({ shardsDir: copy }))).toThrow(
      /missing or truncated .*run data prepare again/,
    );
    expect(() => readShard(copy, idx, shard)).toThrow(ShardError);
    fs.writeFileSync(path.join(copy, 'index.json'), '{"format": "minicpm-shards", "version": 1, "sour');
    expect(() => readShardIndex(copy)).toThrow(/not valid JSON/);
  });
});
