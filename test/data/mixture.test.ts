import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MixtureError } from '../../src/data/errors.js';
import { epochReport, formatEpochReport, loadMixture, parseMixture } from '../../src/data/mixture.js';
import { mixturesDir } from '../../src/data/paths.js';
import { writeTree } from './helpers.js';

describe('mixtures', () => {
  it('parses built-in names and local sources, resolving paths against the file', () => {
    const m = parseMixture(
      {
        phase: 'decay',
        tokens: 1000,
        sources: { sotu: 2, notes: { weight: 1, type: 'jsonl', path: 'data/n.jsonl', field: 'body' } },
      },
      '/x/y/my-mix.json',
    );
    expect(m.name).toBe('my-mix');
    expect(m.sources[0]).toEqual({ name: 'sotu', weight: 2 });
    expect(m.sources[1].local).toMatchObject({
      type: 'jsonl',
      path: path.resolve('/x/y/data/n.jsonl'),
      field: 'body',
    });
  });

  it('rejects malformed mixtures with a message naming the problem', () => {
    const bad =
      (json: unknown): (() => unknown) =>
      () =>
        parseMixture(json, 'm.json');
    expect(bad([])).toThrow(MixtureError);
    expect(bad({ sources: { sotu: 1 } })).toThrow(/"phase"/);
    expect(bad({ phase: 'stable', sources: { nope: 1 } })).toThrow(
      /"nope" is not a built-in source \(moby-dick, .*instruct\)/,
    );
    expect(bad({ phase: 'stable', sources: { sotu: -1 } })).toThrow(/non-negative "weight"/);
    expect(bad({ phase: 'stable', sources: { sotu: 0 } })).toThrow(/positive weight/);
    expect(bad({ phase: 'stable', sources: { x: { weight: 1, type: 'csv', path: 'a' } } })).toThrow(
      /text, jsonl or parquet/,
    );
    expect(bad({ phase: 'stable', sources: { sotu: { weight: 1, path: 'a' } } })).toThrow(
      /built-in source name/,
    );
  });

  it('loads the demo mixtures by name: the decay phase adds high-quality and instruction sources', () => {
    const stable = loadMixture('demo-stable');
    const decay = loadMixture('demo-decay');
    expect([stable.phase, decay.phase]).toEqual(['stable', 'decay']);
    const added = decay.sources.map((s) => s.name).filter((n) => !stable.sources.some((s) => s.name === n));
    expect(added.sort()).toEqual(['classics-zh', 'instruct', 'wordnet']);
    expect(() => loadMixture('no-such-mixture')).toThrow(/not one of .*demo-decay/);
    const file = path.join(writeTree({ 'm.json': '{"phase": "stable", "sources": {"sotu": 1}}' }), 'm.json');
    expect(loadMixture(file).name).toBe('m');
    expect(mixturesDir()).toMatch(/configs[/\\]mixtures$/);
  });

  it('reports epochs per source for a token budget, flagging heavy repetition', () => {
    const rows = epochReport({ big: 1, small: 1 }, { big: 1000, small: 50 }, 1000);
    expect(rows.map((r) => [r.source, r.share, r.planned, r.epochs])).toEqual([
      ['big', 0.5, 500, 0.5],
      ['small', 0.5, 500, 10],
    ]);
    expect(formatEpochReport(rows, 1000)).toMatch(/small .*10\.00 .*repeated more than 4 epochs/);
  });
});
