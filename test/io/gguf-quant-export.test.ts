/**
 * `minicpm export --dtype q8_0|q4_0`: which ggml type every tensor gets (ggufTensorPlan: the embedding/head
 * rule, F16 for rows that are not whole blocks, F32 gains), and the stored bytes are the ggml codec's
 * blocks of the renamed, q/k-permuted rows.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { toFloat32 } from '../../src/io/dtypes.js';
import { encodeQ4_0, encodeQ8_0 } from '../../src/io/gguf-blocks.js';
import { permuteQK } from '../../src/io/gguf-minicpm.js';
import { openGguf } from '../../src/io/gguf.js';
import { openWeights, readConfig } from '../../src/io/hf-folder.js';
import { configFromHF } from '../../src/models/config.js';
import { ggufTensorPlan } from '../../src/models/gguf-export.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

const dir = tempDir('gguf-quant-export');

describe.skipIf(!hasShared)('quantized GGUF export', () => {
  it('plans Q4_0 blocks, a Q8_0 embedding/head, F16 for 240-wide rows and F32 gains', async () => {
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-gqa');
    const config = configFromHF(await readConfig(fx));
    const plan = new Map(ggufTensorPlan(config, 'q4_0').map((c) => [c.ggufName, c]));
    expect(plan.get('token_embd.weight')).toMatchObject({
      type: 'Q8_0',
      note: 'embedding/head kept in Q8_0',
    });
    expect(plan.get('blk.0.attn_q.weight')?.type).toBe('Q4_0');
    expect(plan.get('blk.1.ffn_down.weight')?.type).toBe('F16');
    expect(plan.get('blk.1.ffn_down.weight')?.note).toMatch(/rows of 240/);
    expect(plan.get('blk.0.attn_norm.weight')?.type).toBe('F32');
    expect(plan.has('output.weight')).toBe(false); // tied: llama.cpp uses token_embd as the head
    expect(
      new Set(
        ggufTensorPlan(config, 'q8_0')
          .filter((c) => c.shape.length === 2)
          .map((c) => c.type),
      ),
    ).toEqual(new Set(['Q8_0', 'F16']));
    await expect(
      exportCommand({ model: fx, format: 'gguf', output: path.join(dir, 'x.gguf'), dtype: 'q5_0' }),
    ).rejects.toThrow(/--dtype must be one of f32, f16, bf16, q8_0, q4_0/);
  });

  for (const dtype of ['q8_0', 'q4_0'] as const) {
    it(`${dtype}: the stored blocks are the codec's blocks of the permuted rows; general.file_type says ${dtype}`, async () => {
      const fx = path.join(sharedFixtures, 'minicpm', 'tiny-mha');
      const file = path.join(dir, `mha-${dtype}.gguf`);
      await exportCommand({ model: fx, format: 'gguf', output: file, dtype });
      const g = await openGguf(file);
      const w = await openWeights(fx);
      try {
        expect(g.getNumber('general.file_type')).toBe(dtype === 'q8_0' ? 7 : 2);
        const enc = dtype === 'q8_0' ? encodeQ8_0 : encodeQ4_0;
        const q = permuteQK(await w.read('model.layers.1.self_attn.q_proj.weight'), 4);
        expect(await g.readRaw('blk.1.attn_q.weight')).toEqual(enc(toFloat32(q)));
        const up = await w.read('model.layers.2.mlp.up_proj.weight');
        expect(await g.readRaw('blk.2.ffn_up.weight')).toEqual(enc(toFloat32(up)));
        const emb = await w.read('model.embed_tokens.weight');
        expect(g.tensor('token_embd.weight').typeName).toBe('Q8_0');
        expect(await g.readRaw('token_embd.weight')).toEqual(encodeQ8_0(toFloat32(emb)));
      } finally {
        await g.close();
        await w.close();
      }
    });
  }
});
