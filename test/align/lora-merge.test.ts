/**
 * `minicpm lora merge` and `--adapter` on `logits`, end to end on the tiny-gqa fixture folder and the
 * PyTorch-made PEFT adapter: both give the reference logits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import '../../src/index.js';
import { loraMergeCommand } from '../../src/cli/lora-command.js';
import { logitsCommand } from '../../src/cli/model-commands.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { recordToTensor } from '../../src/models/weights.js';
import { FIXTURES, haveFixtures } from '../helpers/fixtures.js';

const ADAPTER = path.resolve(import.meta.dirname, '../fixtures/peft/tiny-gqa-lora');
const BASE = path.join(FIXTURES, 'tiny-gqa');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-lora-merge-'));
const run = haveFixtures ? describe : describe.skip;

const logitsAt = (file: string) => recordToTensor(openSafetensorsSync(file).readSync('logits')).toArray();
const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

run('lora merge and --adapter', () => {
  const input = path.join(root, 'in.json');
  const want = () => logitsAt(path.join(ADAPTER, 'expected_logits.safetensors'));

  it('logits --adapter gives the PEFT reference logits', async () => {
    const { inputs } = JSON.parse(fs.readFileSync(path.join(BASE, 'expected.json'), 'utf8')) as {
      inputs: number[][];
    };
    fs.writeFileSync(input, JSON.stringify({ inputs }));
    const out = path.join(root, 'adapted.safetensors');
    await logitsCommand({ model: BASE, input, output: out, adapter: ADAPTER });
    expect(maxAbsDiff(logitsAt(out), want())).toBeLessThan(1e-4);
  });

  it('a merged folder loads as a plain model and gives the same logits', async () => {
    const merged = path.join(root, 'merged');
    await loraMergeCommand({ model: BASE, adapter: ADAPTER, out: merged });
    expect(fs.existsSync(path.join(merged, 'config.json'))).toBe(true);
    expect(fs.existsSync(path.join(merged, 'adapter_config.json'))).toBe(false);
    const out = path.join(root, 'merged.safetensors');
    await logitsCommand({ model: merged, input, output: out });
    expect(maxAbsDiff(logitsAt(out), want())).toBeLessThan(1e-4);
  });

  it('merge names the adapter mismatch when the base is wrong', async () => {
    await expect(
      loraMergeCommand({
        model: path.join(FIXTURES, 'tiny-mha'),
        adapter: ADAPTER,
        out: path.join(root, 'x'),
      }),
    ).rejects.toThrow(/trained on another base model/);
  });
});
