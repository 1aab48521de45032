/**
 * K-quant exports. `minicpm export --dtype q4_k_m`: llama-quantize's Q4_K_M mix (Q6_K for the output or
 * tied embedding and for attn_v/ffn_down of the use_more_bits layers, Q4_K elsewhere) with ggml-exact
 * encoders. `--dtype q4_0|q8_0 --head-dtype q6_k`: the embedding/head stored as Q6_K where rows are whole
 * 256-value super-blocks, Q8_0 otherwise. Our engine runs both with those tensors dequantized (and says
 * so in one line); llama.cpp gives the same greedy ids as our engine on the same files. Skipped visibly
 * without node-llama-cpp (the llama.cpp part) or the fixtures.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { toFloat32 } from '../../src/io/dtypes.js';
import { encodeQ4_K } from '../../src/io/gguf-q4k.js';
import { encodeQ6_K } from '../../src/io/gguf-q6k.js';
import { openGguf } from '../../src/io/gguf.js';
import { readConfig } from '../../src/io/hf-folder.js';
import { generateAll } from '../../src/engine/generate.js';
import { configFromHF } from '../../src/models/config.js';
import { exportModelToGguf, ggufTensorPlan } from '../../src/models/gguf-export.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { tensorToRecord } from '../../src/models/weights.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { Rng } from '../../src/tensor/index.js';
import { syntheticGgufVocab } from '../../src/tokenizer/gguf-export.js';
import { backendCases, install } from '../helpers/backends.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
let nlc: NodeLlamaCpp | undefined;
try {
  nlc = await import('node-llama-cpp');
} catch {
  console.warn('[gguf-kquant-export] SKIPPING the llama.cpp check: node-llama-cpp is not installed');
}
install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);
const dir = tempDir('gguf-kquant-export');

/** A 2-layer MiniCPM 256 wide (whole Q6_K super-blocks). */
function wide(): MiniCPM {
  const config = configFromHF({
    vocab_size: 320,
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    max_position_embeddings: 128,
    scale_emb: 12,
    scale_depth: 1.4,
    dim_model_base: 64,
    initializer_range: 0.1,
  });
  return MiniCPM.init(config, new Rng(11));
}

describe('q4_k_m exports', () => {
  it('mix Q4_K and Q6_K as llama-quantize does (output/tied embedding, attn_v and ffn_down of use_more_bits layers)', () => {
    const c = { ...wide().config, numLayers: 16 };
    const plan = new Map(ggufTensorPlan(c, 'q4_k_m').map((t) => [t.ggufName, t.type]));
    expect(plan.get('token_embd.weight')).toBe('Q6_K');
    const six = (kind: string) =>
      [...Array(16).keys()].filter((l) => plan.get(`blk.${l}.${kind}.weight`) === 'Q6_K');
    expect(six('attn_v')).toEqual([0, 1, 4, 7, 10, 13, 14, 15]);
    expect(six('ffn_down')).toEqual([0, 1, 4, 7, 10, 13, 14, 15]);
    expect(six('attn_q')).toEqual([]);
    expect(plan.get('blk.3.ffn_up.weight')).toBe('Q4_K');
    expect(plan.get('blk.3.attn_norm.weight')).toBe('F32');
  });

  it('stores the codec bytes; general.file_type 15', async () => {
    const m = wide();
    const file = path.join(dir, 'wide-q4_k_m.gguf');
    await exportModelToGguf(m, file, { dtype: 'q4_k_m' });
    const g = await openGguf(file);
    expect(g.getNumber('general.file_type')).toBe(15);
    const rec = (n: string) => toFloat32(tensorToRecord(n, m.p(n)));
    // two layers: use_more_bits picks layer 1 (≥ 7·2/8), so its ffn_down is Q6_K and layer 0's Q4_K
    const same = async (t: string, want: Uint8Array) =>
      expect(Buffer.compare(Buffer.from(await g.readRaw(t)), Buffer.from(want)), t).toBe(0);
    expect(g.tensor('blk.0.ffn_down.weight').typeName).toBe('Q4_K');
    expect(g.tensor('blk.1.ffn_down.weight').typeName).toBe('Q6_K');
    await same('blk.0.ffn_down.weight', encodeQ4_K(rec('model.layers.0.mlp.down_proj.weight')));
    await same('blk.1.ffn_down.weight', encodeQ6_K(rec('model.layers.1.mlp.down_proj.weight')));
    await same('token_embd.weight', encodeQ6_K(rec('model.embed_tokens.weight')));
    await g.close();
  });
});

describe('Q6_K embedding/head in quantized exports', () => {
  it.skipIf(!hasShared)('plans Q6_K only for whole super-blocks; refuses it for float exports', async () => {
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-gqa');
    const narrow = new Map(
      ggufTensorPlan(configFromHF(await readConfig(fx)), 'q4_0', 'q6_k').map((c) => [c.ggufName, c]),
    );
    expect(narrow.get('token_embd.weight')?.type).toBe('Q8_0');
    expect(narrow.get('token_embd.weight')?.note).toMatch(/rows of 96 .* Q8_0 instead of Q6_K/);
    const plan = new Map(ggufTensorPlan(wide().config, 'q4_0', 'q6_k').map((c) => [c.ggufName, c]));
    expect(plan.get('token_embd.weight')?.type).toBe('Q6_K');
    expect(plan.get('blk.0.attn_q.weight')?.type).toBe('Q4_0');
    await expect(
      exportCommand({
        model: fx,
        format: 'gguf',
        output: path.join(dir, 'x.gguf'),
        dtype: 'f16',
        headDtype: 'q6_k',
      }),
    ).rejects.toThrow(/--head-dtype q6_k applies to q4_0 and q8_0 exports, not f16/);
  });

  it('stores the codec bytes and runs dequantized in our engine, one note line', async () => {
    const m = wide();
    const file = path.join(dir, 'wide-q4_0-q6k.gguf');
    await exportModelToGguf(m, file, { dtype: 'q4_0', headDtype: 'q6_k' });
    const g = await openGguf(file);
    expect(g.tensor('token_embd.weight').typeName).toBe('Q6_K');
    const emb = tensorToRecord('model.embed_tokens.weight', m.p('model.embed_tokens.weight'));
    expect(await g.readRaw('token_embd.weight')).toEqual(encodeQ6_K(toFloat32(emb)));
    await g.close();
    const notes: string[] = [];
    const ours = await loadGgufModel(file, {}, (l) => notes.push(l));
    expect(notes).toEqual([`${file}: 1 quantized tensors (1 Q6_K) run through dequantization to f32`]);
    ours.parameters().forEach((t) => t.dispose());
  });

  describe.skipIf(!nlc)('llama.cpp', () => {
    let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
    beforeAll(async () => {
      llama = await nlc!.getLlama({ gpu: false, build: 'never' });
    });
    afterAll(async () => {
      await llama?.dispose();
    });

    for (const dtype of ['q4_0', 'q4_k_m'] as const)
      it(`gives the same greedy ids as our engine on the same ${dtype === 'q4_0' ? 'q4_0 + Q6_K-head' : 'q4_k_m'} file`, async () => {
        const m = wide();
        const file = path.join(dir, `wide-${dtype}-vocab.gguf`);
        await exportModelToGguf(m, file, {
          dtype,
          headDtype: dtype === 'q4_0' ? 'q6_k' : undefined,
          tokenizer: syntheticGgufVocab(m.config.vocabSize),
        });
        const ours = await loadGgufModel(file, {}, () => {});
        const lm = await llama.loadModel({ modelPath: file });
        const ctx = await lm.createContext({ contextSize: 64, threads: 2 });
        try {
          for (const prompt of [
            [1, 200, 3, 64],
            [1, 17, 99, 250, 8, 300, 42],
          ]) {
            const seq = ctx.getSequence();
            const theirs: number[] = [];
            const tokens = prompt as unknown as Parameters<typeof seq.evaluateWithMetadata>[0];
            for await (const r of seq.evaluateWithMetadata(tokens, {}, { temperature: 0 })) {
              theirs.push(r.token);
              if (theirs.length >= 8) break;
            }
            await seq.dispose();
            const [mine] = await generateAll(ours, [prompt], { maxNewTokens: 8, greedy: true, stopIds: [] });
            expect(mine).toEqual(theirs);
          }
        } finally {
          await ctx.dispose();
          await lm.dispose();
          ours.parameters().forEach((t) => t.dispose());
        }
      });
  });
});
