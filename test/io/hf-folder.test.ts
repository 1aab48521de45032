import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromFloat32, type TensorRecord } from '../../src/io/dtypes.js';
import { CheckpointFormatError } from '../../src/io/errors.js';
import {
  copyTokenizerFiles,
  findWeights,
  iterateTensors,
  openWeights,
  readConfig,
  readGenerationConfig,
  saveFolder,
} from '../../src/io/hf-folder.js';
import { lazyTensors, type LazyTensor } from '../../src/io/tensor-source.js';
import { hasShared, ioFixtures, leftovers, sharedFixtures, tempDir } from './helpers.js';

const dir = tempDir('hf');
const tensor = (name: string, v: number[]): TensorRecord =>
  fromFloat32(name, [v.length], Float32Array.from(v));

describe('Hugging Face folders', () => {
  it('save and reload: config, generation config, sharded weights, tokenizer files', async () => {
    const src = path.join(dir, 'src-tok');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'tokenizer.model'), 'spm-bytes');
    fs.writeFileSync(path.join(src, 'tokenizer_config.json'), '{"add_bos_token": true}');
    const out = path.join(dir, 'model-a');
    const tensors = Array.from({ length: 4 }, (_, i) => tensor(`layer.${i}.weight`, [i, i + 0.5, -i]));
    await saveFolder(out, {
      config: { model_type: 'minicpm', hidden_size: 3 },
      generationConfig: { bos_token_id: 1, eos_token_id: 2 },
      tensors,
      tokenizerFrom: src,
      maxShardBytes: 24, // two tensors per shard
    });
    expect(fs.readdirSync(out).sort()).toEqual(
      [
        'config.json',
        'generation_config.json',
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
        'model.safetensors.index.json',
        'tokenizer.model',
        'tokenizer_config.json',
      ].sort(),
    );
    expect(await readConfig(out)).toEqual({ model_type: 'minicpm', hidden_size: 3 });
    expect(await readGenerationConfig(out)).toEqual({ bos_token_id: 1, eos_token_id: 2 });
    expect(fs.readFileSync(path.join(out, 'tokenizer.model'), 'utf8')).toBe('spm-bytes');
    expect(await findWeights(out)).toEqual({
      format: 'safetensors',
      files: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'],
      index: 'model.safetensors.index.json',
    });
    const got: TensorRecord[] = [];
    for await (const r of iterateTensors(out)) got.push(r);
    expect(got).toEqual(tensors);
    expect(leftovers(dir)).toEqual([]);
  });

  it('replaces a folder atomically and keeps the old one when writing fails', async () => {
    const out = path.join(dir, 'model-b');
    await saveFolder(out, { config: { v: 1 }, tensors: [tensor('w', [1, 2])] });
    const failing: LazyTensor = {
      name: 'bad',
      dtype: 'F32',
      shape: [1],
      load: () => {
        throw new Error('out of disk');
      },
    };
    await expect(
      saveFolder(out, { config: { v: 2 }, tensors: [tensor('w', [3, 4]), failing] }),
    ).rejects.toThrow('out of disk');
    expect(await readConfig(out)).toEqual({ v: 1 });
    expect(leftovers(dir)).toEqual([]);
    // Re-saving a folder from its own lazily read weights works: the old files live until the swap.
    const reader = await openWeights(out);
    await saveFolder(out, {
      config: { v: 3 },
      tensors: [...lazyTensors(reader), tensor('extra', [5])],
      tokenizerFrom: out,
    });
    await reader.close();
    expect(await readConfig(out)).toEqual({ v: 3 });
    expect(await readGenerationConfig(out)).toBeUndefined();
    const r2 = await openWeights(out);
    expect(r2.names()).toEqual(['w', 'extra']);
    expect(await r2.read('w')).toEqual(tensor('w', [1, 2]));
    await r2.close();
    expect(leftovers(dir)).toEqual([]);
  });

  it('reads pytorch_model.bin folders, plain and sharded', async () => {
    const plain = path.join(dir, 'pt-plain');
    fs.mkdirSync(plain);
    fs.copyFileSync(path.join(ioFixtures, 'module.pt'), path.join(plain, 'pytorch_model.bin'));
    expect(await findWeights(plain)).toEqual({ format: 'pytorch', files: ['pytorch_model.bin'] });
    const r = await openWeights(plain);
    expect(r.names()).toEqual(['weight', 'bias']);
    await r.close();

    const sharded = path.join(dir, 'pt-sharded');
    fs.mkdirSync(sharded);
    fs.copyFileSync(
      path.join(ioFixtures, 'module.pt'),
      path.join(sharded, 'pytorch_model-00001-of-00002.bin'),
    );
    fs.copyFileSync(
      path.join(ioFixtures, 'parameters.pt'),
      path.join(sharded, 'pytorch_model-00002-of-00002.bin'),
    );
    fs.writeFileSync(
      path.join(sharded, 'pytorch_model.bin.index.json'),
      JSON.stringify({
        metadata: {},
        weight_map: {
          weight: 'pytorch_model-00001-of-00002.bin',
          bias: 'pytorch_model-00001-of-00002.bin',
          w: 'pytorch_model-00002-of-00002.bin',
        },
      }),
    );
    const s = await openWeights(sharded);
    expect(s.names()).toEqual(['weight', 'bias', 'w']);
    expect(s.info('w')).toMatchObject({ dtype: 'F32', shape: [1, 2] });
    expect(s.readSync('bias')).toEqual(tensor('bias', [0.5, -0.5]));
    await s.close();
  });

  it('explains what is missing', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'README.md'), 'hi');
    const err = await findWeights(empty).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect((err as Error).message).toMatch(
      /no weights found: expected one of model.safetensors.index.json, .*; the folder has: README.md/,
    );
    await expect(findWeights(path.join(dir, 'nowhere'))).rejects.toThrow(/does not exist/);
    await expect(readConfig(empty)).rejects.toThrow(/config.json: file is missing/);
    fs.writeFileSync(path.join(empty, 'config.json'), '{"hidden_size": ');
    await expect(readConfig(empty)).rejects.toThrow(/invalid JSON/);
    expect(await copyTokenizerFiles(empty, dir)).toEqual([]);
  });
});

describe.skipIf(!hasShared)('real fixture folders', () => {
  it('tiny-mha: finds model.safetensors and iterates all tensors lazily', async () => {
    const base = path.join(sharedFixtures, 'minicpm/tiny-mha');
    expect(await findWeights(base)).toEqual({ format: 'safetensors', files: ['model.safetensors'] });
    const config = await readConfig(base);
    expect(config.model_type).toBe('minicpm');
    let n = 0;
    for await (const r of iterateTensors(base)) {
      expect(r.dtype).toBe('F32');
      n++;
    }
    expect(n).toBe(2 + 9 * (config.num_hidden_layers as number));
  });

  it('copies real tokenizer files through', async () => {
    const out = path.join(dir, 'tok-copy');
    fs.mkdirSync(out);
    const from = path.join(sharedFixtures, 'tokenizer/minicpm-1b');
    expect(await copyTokenizerFiles(from, out)).toEqual(['tokenizer.model', 'tokenizer.json']);
    expect(
      Buffer.compare(
        fs.readFileSync(path.join(out, 'tokenizer.model')),
        fs.readFileSync(path.join(from, 'tokenizer.model')),
      ),
    ).toBe(0);
  });
});
