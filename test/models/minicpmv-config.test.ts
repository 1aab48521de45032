/** MiniCPM-V config parsing, span finding, the splice's errors and folder loading. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeShardedSafetensors } from '../../src/io/sharded.js';
import { lazyTensors } from '../../src/io/tensor-source.js';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/models/config.js';
import { minicpmvConfigFromHF } from '../../src/models/minicpmv-config.js';
import { loadMiniCPMV, loadMiniCPMVFromReader, prefixedReader } from '../../src/models/minicpmv-load.js';
import { imageSpans, ImageSpanError, spliceImages } from '../../src/models/minicpmv-splice.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { recordToTensor, WeightsMismatchError } from '../../src/models/weights.js';
import { buildMiniCPMV, initVisionParams, sinCosTable } from '../../src/models/minicpmv-init.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { refBackend } from '../../src/backends/index.js';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';

T.setBackend(refBackend());
const DIR = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpmv/tiny');
const have = fs.existsSync(DIR);

const LM = {
  model_type: 'minicpmv',
  vocab_size: 128,
  hidden_size: 256,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  scale_emb: 12,
  scale_depth: 1.4,
  dim_model_base: 64,
  tie_word_embeddings: false,
};

describe('minicpmvConfigFromHF', () => {
  it('takes the so400m shape from vision_encoder when there is no vision_config', () => {
    const c = minicpmvConfigFromHF({
      ...LM,
      hidden_size: 2304,
      num_attention_heads: 36,
      query_num: 64,
      image_size: 448,
      drop_vision_last_layer: true,
      vision_encoder: 'vit_so400m_patch14_siglip_384.webli',
    });
    expect(c.vision).toEqual({
      hiddenSize: 1152,
      numHeads: 16,
      intermediateSize: 4304,
      numLayers: 26,
      patchSize: 14,
      posGrid: 27,
      layerNormEps: 1e-6,
    });
    expect([c.queryNum, c.imageSize, c.embedDim, c.resamplerHeads]).toEqual([64, 448, 2304, 18]);
  });

  it('takes vision_config (layers counted before the drop)', () => {
    const c = minicpmvConfigFromHF({
      ...LM,
      query_num: 4,
      image_size: 112,
      vision_config: {
        hidden_size: 32,
        num_attention_heads: 4,
        intermediate_size: 48,
        num_hidden_layers: 3,
        patch_size: 14,
        image_size: 84,
      },
    });
    expect([c.vision.numLayers, c.vision.posGrid, c.resamplerHeads]).toEqual([2, 6, 2]);
    // a native size that is not a multiple of the patch keeps whole patches only (384 // 14 = 27)
    const so = minicpmvConfigFromHF({
      ...LM,
      vision_config: {
        hidden_size: 32,
        num_attention_heads: 4,
        intermediate_size: 48,
        num_hidden_layers: 3,
        patch_size: 14,
        image_size: 384,
      },
    });
    expect(so.vision.posGrid).toBe(27);
  });

  it('refuses 2.x configs, unknown towers and impossible shapes with clear messages', () => {
    for (const k of ['slice_mode', 'max_slice_nums', 'version'])
      expect(() => minicpmvConfigFromHF({ ...LM, [k]: true })).toThrow(/2\.0 or later/);
    expect(() => minicpmvConfigFromHF({ ...LM, vision_encoder: 'vit_huge' })).toThrow(ConfigError);
    expect(() =>
      minicpmvConfigFromHF({ ...LM, query_num: 5, vision_encoder: 'vit_so400m_patch14_siglip_384' }),
    ).toThrow(/square/);
    expect(() =>
      minicpmvConfigFromHF({ ...LM, hidden_size: 64, vision_encoder: 'vit_so400m_patch14_siglip_384' }),
    ).toThrow(/resampler heads/);
  });
});

describe('image spans and the splice', () => {
  it('finds spans and refuses malformed ones', () => {
    expect(imageSpans([1, 101, 0, 0, 102, 5, 101, 0, 0, 102], 2)).toEqual([2, 7]);
    expect(imageSpans([1, 5, 6], 2)).toEqual([]);
    expect(() => imageSpans([1, 101, 0, 0, 0, 102], 2)).toThrow(/holds 3 ids but the model takes exactly 2/);
    expect(() => imageSpans([1, 101, 0, 0], 2)).toThrow(/not closed/);
    expect(() => imageSpans([1, 102], 2)).toThrow(ImageSpanError);
  });

  it('replaces exactly the placeholder rows and counts images', () => {
    const E = 3;
    const ids = [7, 101, 0, 0, 102, 8];
    const embeds = Tensor.from(
      Float32Array.from({ length: 6 * E }, (_, i) => i),
      [1, 6, E],
    );
    const img = Tensor.from(
      Float32Array.from({ length: 2 * E }, () => -1),
      [2, E],
    );
    const out = spliceImages(embeds, ids, [[img]], 2).toArray();
    expect(out.slice(0, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(out.slice(6, 18)).toEqual([-1, -1, -1, -1, -1, -1, 12, 13, 14, 15, 16, 17]);
    expect(() => spliceImages(embeds, ids, [[]], 2)).toThrow(/1 image span\(s\) but 0 image/);
    expect(() => spliceImages(embeds, ids, [[img, img]], 2)).toThrow(ImageSpanError);
  });
});

describe.skipIf(!have)('loading the tiny folder', () => {
  it('loads through the folder reader', async () => {
    const m = await loadMiniCPMV(DIR);
    expect(m.params.size).toBeGreaterThan(30);
    expect(m.llm.config.tieWordEmbeddings).toBe(false);
  });

  it('loads a sharded safetensors copy to the same parameters', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpmv-shards-'));
    try {
      fs.copyFileSync(path.join(DIR, 'config.json'), path.join(tmp, 'config.json'));
      const reader = openSafetensorsSync(path.join(DIR, 'model.safetensors'));
      const { files } = await writeShardedSafetensors(tmp, lazyTensors(reader), { maxShardBytes: 400_000 });
      expect(files.length).toBeGreaterThan(2);
      const [a, b] = [await loadMiniCPMV(DIR), await loadMiniCPMV(tmp)];
      for (const [name, t] of a.params) expect(b.params.get(name)!.toArray()).toEqual(t.toArray());
      for (const [name, t] of a.llm.params) expect(b.llm.params.get(name)!.toArray()).toEqual(t.toArray());
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('names a missing tensor', () => {
    const config = minicpmvConfigFromHF(
      JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>,
    );
    const reader = openSafetensorsSync(path.join(DIR, 'model.safetensors'));
    const hidden = prefixedReader(reader, '');
    const without = { ...hidden, has: (n: string) => n !== 'resampler.proj' && reader.has(n) };
    expect(() => loadMiniCPMVFromReader(config, without)).toThrow(WeightsMismatchError);
    expect(() => loadMiniCPMVFromReader(config, without)).toThrow(/resampler\.proj/);
  });
});

describe('fresh vision parameters', () => {
  it('the resampler position table is MAE 2-D sin-cos: the fixture stores it rounded to bf16', () => {
    const table = sinCosTable(2, 256);
    if (!have) return;
    const stored = recordToTensor(
      openSafetensorsSync(path.join(DIR, 'model.safetensors')).readSync('resampler.pos_embed'),
    ).toArray();
    for (let i = 0; i < table.length; i++)
      expect(Math.abs(stored[i] - table[i])).toBeLessThanOrEqual(Math.abs(table[i]) * 2 ** -8 + 1e-30);
  });

  it('initVisionParams covers every tower and resampler parameter, and the model runs', () => {
    const c = minicpmvConfigFromHF({
      ...LM,
      query_num: 4,
      image_size: 28,
      vision_config: {
        hidden_size: 8,
        num_attention_heads: 2,
        intermediate_size: 12,
        num_hidden_layers: 2,
        patch_size: 14,
        image_size: 28,
      },
    });
    const params = initVisionParams(c, new T.Rng(3));
    expect(
      params
        .get('vpm.norm.weight')!
        .toArray()
        .every((v) => v === 1),
    ).toBe(true);
    expect(
      params
        .get('vpm.blocks.0.attn.qkv.bias')!
        .toArray()
        .every((v) => v === 0),
    ).toBe(true);
    const lm = MiniCPM.init(c.llm, new T.Rng(4));
    const m = buildMiniCPMV(c, lm, params);
    const out = m.encodePixels(Tensor.zeros([1, 3, 28, 28]));
    expect(out.shape).toEqual([1, 4, 256]);
  });
});
