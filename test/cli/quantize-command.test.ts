// `minicpm quantize`: calibration from text (tokenized with the model folder's tokenizer, cut into
// windows) or from ids, written as a GPTQ folder that loads back; bad flags get clear errors.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { quantizeCommand } from '../../src/cli/quantize-command.js';
import { configFromHF } from '../../src/models/config.js';
import { saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadAnyModel, readQuantizeConfig } from '../../src/quant/index.js';
import type { QuantizedLinears } from '../../src/quant/qlinear.js';
import { Rng } from '../../src/tensor/index.js';

useBackend('auto');
const TOKENIZER = path.resolve(__dirname, '../../../shared/fixtures/tokenizer/minicpm-2b');
const have = fs.existsSync(path.join(TOKENIZER, 'tokenizer.model'));

const base = {
  samples: '4',
  seqLen: '24',
  bits: '4',
  groupSize: '32',
  actOrder: true,
  damp: '0.01',
  trueSequential: true,
};

describe.skipIf(!have)('minicpm quantize', () => {
  it('calibrates on text windows and writes a folder that generate/eval load', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-quantize-'));
    const config = configFromHF({
      model_type: 'minicpm',
      vocab_size: 122753, // the fixture tokenizer's
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
    });
    const modelDir = path.join(tmp, 'model');
    await saveModel(modelDir, MiniCPM.init(config, new Rng(2)), { tokenizerFrom: TOKENIZER });
    const text = path.join(tmp, 'calib.txt');
    fs.writeFileSync(
      text,
      '床前明月光，疑是地上霜。举头望明月，低头思故乡。The quick brown fox jumps over the lazy dog. '.repeat(
        8,
      ),
    );
    const out = path.join(tmp, 'int4');
    await quantizeCommand({ ...base, model: modelDir, out, calibration: text });
    expect((await readQuantizeConfig(out))?.group_size).toBe(32);
    expect(fs.existsSync(path.join(out, 'tokenizer.model'))).toBe(true);
    const m = await loadAnyModel(out); // onto the int4 kernels
    expect((m.linearRunner as QuantizedLinears).weights.get('model.layers.0.mlp.down_proj')).toMatchObject({
      out: 64,
      in: 128,
    });

    await expect(quantizeCommand({ ...base, model: modelDir, out })).rejects.toThrow(
      /pass one of --calibration/,
    );
    await expect(
      quantizeCommand({ ...base, model: modelDir, out, calibration: text, calibrationIds: text }),
    ).rejects.toThrow(/pass one of/);
    await expect(
      quantizeCommand({ ...base, seqLen: '100000', model: modelDir, out, calibration: text }),
    ).rejects.toThrow(/fewer than one window of 100000/);
    const ids = path.join(tmp, 'ids.json');
    fs.writeFileSync(ids, JSON.stringify({ not: 'ids' }));
    await expect(quantizeCommand({ ...base, model: modelDir, out, calibrationIds: ids })).rejects.toThrow(
      /expected a JSON array of token id arrays/,
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
