/**
 * GGUF files with the `llama` architecture (io/gguf-llama, models/gguf-export, models/gguf-load): the
 * metadata round-trips, `minicpm export` writes Llama folders as arch llama by default (and MiniCPMs only
 * when their multipliers are 1), our engine loads them to the same logits as the folder (F32) and keeps
 * Q8_0/Q4_0 matrices on the int8/int4 kernels, and metadata we cannot run is a typed error.
 * llama.cpp running these files is checked in gguf-quant-llama-cpp.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import {
  GgufLlamaMetadataError,
  LLAMA_KEYS,
  llamaGgufMetadata,
  llamaHfConfigFromGguf,
  type LlamaHfConfig,
} from '../../src/io/gguf-llama.js';
import { gv, openGguf, writeGguf, type GgufTensorSource } from '../../src/io/gguf.js';
import { readLlama2c, saveFolder } from '../../src/io/index.js';
import { ConfigError } from '../../src/models/config.js';
import { configFromGguf, loadGgufModelDense } from '../../src/models/gguf-load.js';
import { loadModel } from '../../src/models/load.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { loadGgufModelWithReport } from '../../src/quant/ggml-model.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const dir = tempDir('gguf-llama');
const STORIES = path.join(sharedFixtures, 'llama2c/stories260K.bin');

function logits(model: MiniCPM, ids: number[]): Float32Array {
  return Float32Array.from(
    noGrad(() => model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32'))).toArray(),
  );
}

async function writeMeta(
  file: string,
  c: LlamaHfConfig,
  extra: Record<string, ReturnType<typeof gv.string>> = {},
  tensors: GgufTensorSource[] = [],
) {
  const meta = llamaGgufMetadata(c, { name: 'x' });
  for (const [k, v] of Object.entries(extra)) meta.set(k, v);
  await writeGguf(file, meta, tensors);
}

const BASE: LlamaHfConfig = {
  vocab_size: 320,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 3,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: null,
};

describe('llama GGUF metadata', () => {
  it('round-trips a config, with head_dim ≠ hidden/heads and linear rope scaling', async () => {
    for (const c of [BASE, { ...BASE, head_dim: 16, rope_scaling: { type: 'linear' as const, factor: 4 } }]) {
      const file = path.join(dir, 'meta.gguf');
      await writeMeta(file, c);
      const g = await openGguf(file);
      expect(g.getString('general.architecture')).toBe('llama');
      expect(g.getNumber(LLAMA_KEYS.ropeDimensionCount)).toBe(c.head_dim ?? 8);
      expect(g.has(LLAMA_KEYS.keyLength)).toBe(c.head_dim !== undefined);
      expect(llamaHfConfigFromGguf(g)).toEqual({ model_type: 'llama', ...c });
      const config = configFromGguf(g);
      expect(config).toMatchObject({ modelType: 'llama', headDim: c.head_dim ?? 8, tieWordEmbeddings: true });
      await g.close();
    }
  });

  it('metadata our forward pass cannot honour is a typed error', async () => {
    const cases: [Record<string, ReturnType<typeof gv.string>>, RegExp][] = [
      [{ [LLAMA_KEYS.ropeScalingType]: gv.string('yarn') }, /rope\.scaling\.type 'yarn' is not supported/],
      [{ [LLAMA_KEYS.ropeDimensionCount]: gv.uint32(4) }, /partial rotary embeddings do not run here/],
      [{ [LLAMA_KEYS.valueLength]: gv.uint32(4) }, /only equal head sizes run here/],
    ];
    for (const [extra, msg] of cases) {
      const file = path.join(dir, 'bad.gguf');
      await writeMeta(file, BASE, extra);
      const g = await openGguf(file);
      expect(() => configFromGguf(g)).toThrow(GgufLlamaMetadataError);
      expect(() => configFromGguf(g)).toThrow(msg);
      await g.close();
    }
    const file = path.join(dir, 'freqs.gguf');
    await writeMeta(file, BASE, {}, [
      { name: 'rope_freqs.weight', shape: [4], ggmlType: 'F32', data: new Uint8Array(16) },
    ]);
    const g = await openGguf(file);
    expect(() => configFromGguf(g)).toThrow(/rope_freqs\.weight/);
    await g.close();
  });
});

describe.skipIf(!hasShared || !fs.existsSync(STORIES))(
  'llama GGUF exports of a Llama folder (stories260K)',
  () => {
    const folder = path.join(dir, 'stories260K');
    const ready = (async () => {
      const ckpt = readLlama2c(STORIES);
      await saveFolder(folder, { config: ckpt.config, tensors: ckpt.tensors });
    })();

    it('auto writes arch llama; F32 loads to the same logits as the folder', async () => {
      await ready;
      const file = path.join(dir, 'stories-f32.gguf');
      await exportCommand({ model: folder, format: 'gguf', output: file, dtype: 'f32' });
      const g = await openGguf(file);
      expect(g.getString('general.architecture')).toBe('llama');
      expect(g.has('minicpm.embedding_scale')).toBe(false);
      expect(g.getNumber('llama.attention.head_count_kv')).toBe(4);
      await g.close();
      const ref = await loadModel(folder);
      const r = loadGgufModelDense(file);
      expect(r.config.modelType).toBe('llama');
      const ids = [1, 403, 407, 261, 378, 5];
      expect(logits(r.model, ids)).toEqual(logits(ref, ids));
    });

    for (const dtype of ['q8_0', 'q4_0'] as const) {
      it(`${dtype}: matrices stay quantized and the logits match the minicpm-arch export of the same folder`, async () => {
        await ready;
        const llama = path.join(dir, `stories-${dtype}-llama.gguf`);
        const minicpm = path.join(dir, `stories-${dtype}-minicpm.gguf`);
        await exportCommand({ model: folder, format: 'gguf', output: llama, dtype, arch: 'llama' });
        await exportCommand({ model: folder, format: 'gguf', output: minicpm, dtype, arch: 'minicpm' });
        const a = loadGgufModelWithReport(llama);
        const b = loadGgufModelWithReport(minicpm);
        expect(a.report.dequantized).toEqual([]);
        expect(a.report.native).toEqual(b.report.native);
        const ids = [1, 403, 407, 261, 378, 5];
        // The same blocks and the same kernels: the two archs differ only in metadata.
        expect(logits(a.model, ids)).toEqual(logits(b.model, ids));
      });
    }

    it('a MiniCPM with μP multipliers cannot be written as llama; a bad --arch is refused', async () => {
      const fx = path.join(sharedFixtures, 'minicpm', 'tiny-mha');
      const out = path.join(dir, 'no.gguf');
      await expect(
        exportCommand({ model: fx, format: 'gguf', output: out, dtype: 'f32', arch: 'llama' }),
      ).rejects.toThrow(ConfigError);
      await expect(
        exportCommand({ model: fx, format: 'gguf', output: out, dtype: 'f32', arch: 'llama' }),
      ).rejects.toThrow(/use --arch minicpm/);
      await expect(
        exportCommand({ model: fx, format: 'gguf', output: out, dtype: 'f32', arch: 'qwen' }),
      ).rejects.toThrow(/--arch must be one of auto, minicpm, llama/);
      expect(fs.existsSync(out)).toBe(false);
    });
  },
);
