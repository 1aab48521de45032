// `minicpm quantize` refuses, before any work and without writing a folder: bit widths the AutoGPTQ
// layout is not written in (3), group sizes that are not -1 or positive, a --model that is already a
// GPTQ folder, and a model none of whose layers packs into the words (a folder with nothing quantized).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { quantizeCommand } from '../../src/cli/quantize-command.js';
import { configFromHF } from '../../src/models/config.js';
import { saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { Rng } from '../../src/tensor/index.js';

useBackend('auto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-quantize-errors-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function modelDir(name: string, hidden: number, ff: number): Promise<string> {
  const config = configFromHF({
    model_type: 'minicpm',
    vocab_size: 64,
    hidden_size: hidden,
    intermediate_size: ff,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
  });
  const dir = path.join(tmp, name);
  await saveModel(dir, MiniCPM.init(config, new Rng(2)));
  return dir;
}

const ids = path.join(tmp, 'ids.json');
fs.writeFileSync(ids, JSON.stringify([Array.from({ length: 16 }, (_, i) => (i * 7) % 64)]));
const base = {
  samples: '1',
  seqLen: '16',
  bits: '4',
  groupSize: '32',
  actOrder: true,
  damp: '0.01',
  trueSequential: true,
  calibrationIds: ids,
};

describe('minicpm quantize: refusals', () => {
  it('3 bits and bad group sizes, before loading anything', async () => {
    const model = path.join(tmp, 'absent'); // never read: the flags fail first
    const out = path.join(tmp, 'out-flags');
    await expect(quantizeCommand({ ...base, model, out, bits: '3' })).rejects.toThrow(
      /--bits must be 2, 4 or 8, got 3/,
    );
    await expect(quantizeCommand({ ...base, model, out, groupSize: '0' })).rejects.toThrow(
      /--group-size must be -1 or a positive integer, got 0/,
    );
    await expect(quantizeCommand({ ...base, model, out, groupSize: 'g32' })).rejects.toThrow(/--group-size/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a GPTQ folder as --model: says to quantize its float source', async () => {
    const src = await modelDir('float', 64, 128);
    const q = path.join(tmp, 'q4');
    await quantizeCommand({ ...base, model: src, out: q });
    const again = path.join(tmp, 'q4-again');
    await expect(quantizeCommand({ ...base, model: q, out: again })).rejects.toThrow(
      /q4 is already a GPTQ folder \(quantization_config\): quantize the float checkpoint/,
    );
    expect(fs.existsSync(again)).toBe(false);
  });

  it('no layer packable in the words: nothing written', async () => {
    // every matrix has 68 columns or rows: not a multiple of 8 (4-bit values per int32 word)
    const src = await modelDir('odd', 68, 68);
    const out = path.join(tmp, 'out-odd');
    await expect(quantizeCommand({ ...base, model: src, out, groupSize: '-1' })).rejects.toThrow(
      /no linear layer of .*odd has a shape that packs into 4-bit AutoGPTQ words: nothing written/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});
