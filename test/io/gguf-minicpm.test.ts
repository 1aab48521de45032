import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromFloat32, toFloat32, type TensorRecord } from '../../src/io/dtypes.js';
import { openGguf, writeGguf } from '../../src/io/gguf.js';
import {
  GGUF_TOKEN_TYPE,
  ggufTensorToHf,
  ggufToHfName,
  hfTensorToGguf,
  hfToGgufName,
  MINICPM_KEYS,
  minicpmConfigFromGguf,
  minicpmGgufMetadata,
  permuteQK,
  TOKENIZER_KEYS,
  unpermuteQK,
  type MiniCpmHfConfig,
} from '../../src/io/gguf-minicpm.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

const dir = tempDir('gguf-minicpm');

const CONFIG: MiniCpmHfConfig = {
  vocab_size: 320,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  scale_emb: 12,
  scale_depth: 1.4,
  dim_model_base: 16,
};

function rand(name: string, shape: number[], seed: number): TensorRecord {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed;
  const data = Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
  return fromFloat32(name, shape, data);
}

describe('tensor names', () => {
  const pairs: [string, string][] = [
    ['model.embed_tokens.weight', 'token_embd.weight'],
    ['model.norm.weight', 'output_norm.weight'],
    ['lm_head.weight', 'output.weight'],
    ['model.layers.0.input_layernorm.weight', 'blk.0.attn_norm.weight'],
    ['model.layers.7.self_attn.q_proj.weight', 'blk.7.attn_q.weight'],
    ['model.layers.7.self_attn.k_proj.weight', 'blk.7.attn_k.weight'],
    ['model.layers.7.self_attn.v_proj.weight', 'blk.7.attn_v.weight'],
    ['model.layers.7.self_attn.o_proj.weight', 'blk.7.attn_output.weight'],
    ['model.layers.39.post_attention_layernorm.weight', 'blk.39.ffn_norm.weight'],
    ['model.layers.39.mlp.gate_proj.weight', 'blk.39.ffn_gate.weight'],
    ['model.layers.39.mlp.up_proj.weight', 'blk.39.ffn_up.weight'],
    ['model.layers.39.mlp.down_proj.weight', 'blk.39.ffn_down.weight'],
  ];
  it('map HF ↔ GGUF both ways', () => {
    for (const [hf, gg] of pairs) {
      expect(hfToGgufName(hf)).toBe(gg);
      expect(ggufToHfName(gg)).toBe(hf);
    }
    expect(hfToGgufName('model.layers.0.self_attn.rotary_emb.inv_freq')).toBeUndefined();
    expect(ggufToHfName('rope_freqs.weight')).toBeUndefined();
  });
});

describe('q/k permutation', () => {
  it('puts rotate-half pairs on adjacent rows, per head', () => {
    const nHeads = 2;
    const d = 8;
    const rows = Float32Array.from({ length: nHeads * d * 3 }, (_, i) => Math.floor(i / 3)); // row r holds r
    const p = toFloat32(permuteQK(fromFloat32('q', [nHeads * d, 3], rows), nHeads));
    const rowOf = (i: number) => p[i * 3];
    // GGUF rows of head 0: HF rows 0,4,1,5,2,6,3,7; head 1 likewise offset by 8.
    expect(Array.from({ length: 16 }, (_, i) => rowOf(i))).toEqual([
      0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15,
    ]);
  });

  it('permute and unpermute are inverses for every dtype and head count', () => {
    for (const [heads, d] of [
      [4, 16],
      [2, 64],
      [1, 2],
      [6, 8],
    ]) {
      const r = rand('w', [heads * d, 5], heads * 100 + d);
      for (const dtype of ['F32', 'BF16', 'F16'] as const) {
        const x = fromFloat32('w', r.shape, toFloat32(r), dtype);
        const y = permuteQK(x, heads);
        if (d > 2) expect(Buffer.compare(y.data, x.data)).not.toBe(0);
        expect(unpermuteQK(y, heads)).toEqual(x);
        expect(permuteQK(unpermuteQK(x, heads), heads)).toEqual(x);
      }
    }
    expect(() => permuteQK(rand('w', [12, 2], 1), 5)).toThrow(/cannot be split into 5 heads/);
  });

  it('turns HF rotate-half RoPE into llama.cpp adjacent-pair RoPE exactly', () => {
    const heads = 3;
    const d = 8;
    const W = rand('q', [heads * d, 4], 7);
    const x = Float32Array.from([0.3, -1.2, 0.7, 2]);
    const matvec = (w: Float32Array) =>
      Float64Array.from({ length: heads * d }, (_, r) => x.reduce((s, xi, c) => s + w[r * 4 + c] * xi, 0));
    const qHf = matvec(toFloat32(W));
    const qGg = matvec(toFloat32(permuteQK(W, heads)));
    const pos = 5;
    const theta = (i: number) => pos * 10000 ** ((-2 * i) / d);
    const rotateHalf = (q: Float64Array) =>
      q.map((_, r) => {
        const h = Math.floor(r / d) * d;
        const j = r % d;
        const i = j % (d / 2);
        const [a, b] = [q[h + i], q[h + i + d / 2]];
        return j < d / 2
          ? a * Math.cos(theta(i)) - b * Math.sin(theta(i))
          : b * Math.cos(theta(i)) + a * Math.sin(theta(i));
      });
    const adjacent = (q: Float64Array) =>
      q.map((_, r) => {
        const h = Math.floor(r / d) * d;
        const j = r % d;
        const i = j >> 1;
        const [a, b] = [q[h + 2 * i], q[h + 2 * i + 1]];
        return j % 2 === 0
          ? a * Math.cos(theta(i)) - b * Math.sin(theta(i))
          : b * Math.cos(theta(i)) + a * Math.sin(theta(i));
      });
    const outHf = rotateHalf(qHf);
    const outGg = adjacent(qGg);
    // Undo the row permutation on the llama.cpp result and compare.
    const back = toFloat32(unpermuteQK(fromFloat32('o', [heads * d], Float32Array.from(outGg)), heads));
    for (let r = 0; r < heads * d; r++) expect(back[r]).toBeCloseTo(outHf[r], 5);
  });
});

describe('MiniCPM metadata', () => {
  it('writes llama.cpp keys and recovers the HF config', async () => {
    const tokens = ['<unk>', '<s>', '</s>', '▁hi'];
    const meta = minicpmGgufMetadata(CONFIG, {
      name: 'tiny',
      tokenizer: {
        tokens,
        scores: [0, 0, 0, -1],
        tokenTypes: [2, 3, 3, 1],
        bosId: 1,
        eosId: 2,
        unkId: 0,
        addBos: true,
        addEos: false,
        chatTemplate: '{{x}}',
      },
    });
    const p = path.join(dir, 'meta.gguf');
    await writeGguf(p, meta, []);
    const g = await openGguf(p);
    expect(g.getString(MINICPM_KEYS.architecture)).toBe('minicpm');
    expect(g.getNumber('minicpm.block_count')).toBe(3);
    expect(g.getNumber('minicpm.attention.head_count_kv')).toBe(2);
    expect(g.getNumber('minicpm.rope.dimension_count')).toBe(16);
    expect(g.getNumber('minicpm.rope.freq_base')).toBe(10000);
    expect(g.getNumber('minicpm.embedding_scale')).toBe(12);
    expect(g.getNumber('minicpm.residual_scale')).toBe(Math.fround(1.4 / Math.sqrt(3)));
    expect(g.getNumber('minicpm.logit_scale')).toBe(4);
    expect(g.get('minicpm.context_length').type).toBe('uint32');
    expect(g.get('minicpm.attention.layer_norm_rms_epsilon').type).toBe('float32');
    expect(g.getString(TOKENIZER_KEYS.model)).toBe('llama');
    expect(g.getStringArray('tokenizer.ggml.tokens')).toEqual(tokens);
    expect(g.getArray('tokenizer.ggml.token_type')).toEqual(
      new Int32Array([2, 3, 3, GGUF_TOKEN_TYPE.NORMAL]),
    );
    expect(g.getBool('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(minicpmConfigFromGguf(g)).toEqual({ ...CONFIG, rope_theta: 10000 });
    await g.close();
  });
});

describe.skipIf(!hasShared)('tiny-gqa checkpoint → GGUF → HF', () => {
  it('round-trips every tensor through names, permutation and file', async () => {
    const base = path.join(sharedFixtures, 'minicpm/tiny-gqa');
    const config = JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as MiniCpmHfConfig;
    const st = await openSafetensors(path.join(base, 'model.safetensors'));
    const originals = new Map<string, TensorRecord>();
    const converted: TensorRecord[] = [];
    for (const n of st.names()) {
      const r = await st.read(n);
      originals.set(n, r);
      const g = hfTensorToGguf(r, config);
      expect(g, n).toBeDefined();
      converted.push(g!);
    }
    await st.close();
    const p = path.join(dir, 'tiny-gqa.gguf');
    await writeGguf(p, minicpmGgufMetadata(config), converted);
    const g = await openGguf(p);
    expect(minicpmConfigFromGguf(g)).toMatchObject({
      num_attention_heads: 6,
      num_key_value_heads: 2,
      scale_depth: 1.4,
    });
    const k = g.tensor('blk.0.attn_k.weight');
    expect(k.shape).toEqual([2 * (config.hidden_size / config.num_attention_heads), config.hidden_size]);
    expect(k.dims).toEqual([...k.shape].reverse());
    for (const t of g.tensors) {
      const back = ggufTensorToHf(await g.readTensor(t.name), config)!;
      const orig = originals.get(back.name)!;
      expect(back.shape).toEqual(orig.shape);
      expect(Buffer.compare(back.data, orig.data), back.name).toBe(0);
    }
    expect(g.tensors.length).toBe(originals.size);
    await g.close();
  });
});
