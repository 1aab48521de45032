import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { Registry } from '../../src/sandbox/registry.js';
import { tempDir } from '../data/helpers.js';

function captured(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
  vi.spyOn(console, 'table').mockImplementation((rows: unknown) => void out.push(JSON.stringify(rows)));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.map(String).join(' ')));
  return { out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = 0;
});

describe('minicpm sandbox list / show', () => {
  it('reads studies and runs from the registry', async () => {
    const root = tempDir();
    const reg = new Registry(path.join(root, 'registry.sqlite'));
    reg.openStudy('lr', 'lr', { widths: [64] });
    const run = reg.ensureRun('lr', 'mup-w64-lr0.01', { lr: 0.01 }, '/runs/x');
    reg.addPoints(run.id, [
      { step: 1, tokens: 10, loss: 5, valLoss: null, lr: 0.01 },
      { step: 2, tokens: 20, loss: 4, valLoss: 4.5, lr: 0.01 },
    ]);
    reg.finishRun(run.id, 'done', { valLoss: 4.5, tokens: 20, seconds: 3 });
    reg.finishStudy('lr', 'done', '/r/index.html', { drift: { mup: 1.2 } });
    reg.close();

    const io = captured();
    await main(['node', 'minicpm', 'sandbox', 'list', '--root', root]);
    expect(io.out.join('\n')).toContain('"study":"lr"');
    expect(io.out.join('\n')).toContain('"done":1');
    await main(['node', 'minicpm', 'sandbox', 'show', 'lr', '--root', root]);
    expect(io.out.join('\n')).toContain('"valLoss":4.5');
    await main(['node', 'minicpm', 'sandbox', 'show', 'lr', 'mup-w64-lr0.01', '--root', root, '--json']);
    const shown = JSON.parse(io.out[io.out.length - 1]) as { curve: unknown[]; status: string };
    expect(shown.status).toBe('done');
    expect(shown.curve).toHaveLength(1);
  });

  it('says what to do for an unknown study', async () => {
    const io = captured();
    await main(['node', 'minicpm', 'sandbox', 'show', 'nope', '--root', tempDir()]);
    expect(process.exitCode).toBe(1);
    expect(io.err.join('\n')).toMatch(/no study "nope".*sandbox list/);
  });
});
