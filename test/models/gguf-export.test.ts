/** The GGUF exporter: metadata, names, q/k permutation, dtypes and the embedded vocabulary. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { exportCommand, exportVocab, registerExportCommand } from '../../src/cli/export-command.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { openGguf } from '../../src/io/gguf.js';
import { toFloat32 } from '../../src/io/dtypes.js';
import {
  ggufTensorToHf,
  minicpmConfigFromGguf,
  MINICPM_KEYS,
  TOKENIZER_KEYS,
} from '../../src/io/gguf-minicpm.js';
import { ggufHfConfig } from '../../src/models/gguf-export.js';
import { configFromHF } from '../../src/models/config.js';
import { ggufVocabFromTokenizer, syntheticGgufVocab } from '../../src/tokenizer/gguf-export.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { PieceType } from '../../src/tokenizer/types.js';
import { hasShared, sharedFixtures, tempDir } from '../io/helpers.js';

const dir = tempDir('gguf-export');
const TOK = path.join(sharedFixtures, 'tokenizer/minicpm-2b/tokenizer.model');

describe('syntheticGgufVocab', () => {
  it('has <unk>/<s>/</s>, byte pieces and unique tokens of the right count', () => {
    for (const n of [257, 320, 1000]) {
      const v = syntheticGgufVocab(n);
      expect(v.tokens.length).toBe(n);
      expect(new Set(v.tokens).size).toBe(n);
      expect(v.tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
      expect([...v.tokenTypes.slice(0, 4)]).toEqual([
        PieceType.Unknown,
        PieceType.Control,
        PieceType.Control,
        PieceType.Byte,
      ]);
      expect(v.tokens.indexOf('<0x0A>')).toBe(13);
      expect([v.unkId, v.bosId, v.eosId]).toEqual([0, 1, 2]);
      expect(v.scores.length).toBe(n);
    }
    expect(syntheticGgufVocab(1000).tokens[259]).toBe('<t259>');
  });
});

describe.skipIf(!hasShared)('minicpm export (tiny fixtures)', () => {
  for (const fixture of ['tiny-mha', 'tiny-gqa']) {
    for (const dtype of ['f32', 'bf16', 'f16'] as const) {
      it(`${fixture} ${dtype}: metadata, names and weights round-trip`, async () => {
        const fx = path.join(sharedFixtures, 'minicpm', fixture);
        const hfJson = JSON.parse(fs.readFileSync(path.join(fx, 'config.json'), 'utf8')) as Record<
          string,
          unknown
        >;
        const config = configFromHF(hfJson);
        const file = path.join(dir, `${fixture}-${dtype}.gguf`);
        await exportCommand({ model: fx, format: 'gguf', output: file, dtype });
        const g = await openGguf(file);
        try {
          expect(g.getString(MINICPM_KEYS.architecture)).toBe('minicpm');
          expect(g.getNumber(MINICPM_KEYS.fileType)).toBe({ f32: 0, f16: 1, bf16: 32 }[dtype]);
          expect(minicpmConfigFromGguf(g)).toEqual(ggufHfConfig(config));
          expect(g.getNumber(MINICPM_KEYS.logitScale)).toBeCloseTo(
            config.hiddenSize / config.dimModelBase,
            6,
          );
          expect(g.getString(TOKENIZER_KEYS.model)).toBe('llama');
          expect(g.getStringArray(TOKENIZER_KEYS.tokens).length).toBe(config.vocabSize);
          expect(g.getNumber(TOKENIZER_KEYS.bosId)).toBe(1);
          expect(g.getNumber(TOKENIZER_KEYS.eosId)).toBe(2);
          expect(g.getNumber(TOKENIZER_KEYS.unkId)).toBe(0);
          const st = await openSafetensors(path.join(fx, 'model.safetensors'));
          try {
            // tied: no `output`; every parameter present once
            expect(() => g.tensor('output.weight')).toThrow();
            const names = st.names().filter((n) => n !== 'lm_head.weight' && !n.includes('rotary'));
            const hf = ggufHfConfig(config);
            const tol = { f32: 0, bf16: 2 ** -8, f16: 2 ** -10 }[dtype];
            for (const name of names) {
              const want = toFloat32(await st.read(name));
              const ggName = name
                .replace(/^model\.layers\.(\d+)\./, 'blk.$1.')
                .replace('self_attn.q_proj', 'attn_q')
                .replace('self_attn.k_proj', 'attn_k')
                .replace('self_attn.v_proj', 'attn_v')
                .replace('self_attn.o_proj', 'attn_output')
                .replace('mlp.gate_proj', 'ffn_gate')
                .replace('mlp.up_proj', 'ffn_up')
                .replace('mlp.down_proj', 'ffn_down')
                .replace('input_layernorm', 'attn_norm')
                .replace('post_attention_layernorm', 'ffn_norm')
                .replace('model.embed_tokens', 'token_embd')
                .replace('model.norm', 'output_norm');
              const info = g.tensor(ggName);
              expect(info.dtype).toBe(
                info.shape.length === 1 || dtype === 'f32' ? 'F32' : dtype.toUpperCase(),
              );
              const back = ggufTensorToHf(await g.readTensor(ggName), hf)!;
              expect(back.name).toBe(name);
              expect(back.shape).toEqual(st.info(name).shape);
              const got = toFloat32(back);
              let err = 0;
              for (let i = 0; i < want.length; i++)
                err = Math.max(
                  err,
                  Math.abs(got[i] - want[i]) /
                    Math.max(Math.abs(want[i]), dtype === 'f16' ? 2 ** -14 : 1e-30),
                );
              expect(err).toBeLessThanOrEqual(tol);
            }
          } finally {
            await st.close();
          }
        } finally {
          await g.close();
        }
      });
    }
  }

  it('`minicpm export --model DIR --format gguf --output FILE --dtype bf16` through commander', async () => {
    const program = new Command('minicpm').exitOverride();
    registerExportCommand(program);
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-gqa');
    const out = path.join(dir, 'cli.gguf');
    await program.parseAsync(
      ['export', '--model', fx, '--format', 'gguf', '--output', out, '--dtype', 'bf16'],
      {
        from: 'user',
      },
    );
    const g = await openGguf(out);
    try {
      expect(g.getString('general.architecture')).toBe('minicpm');
      expect(g.getString('general.name')).toBe('tiny-gqa');
      expect(g.tensor('blk.0.attn_q.weight').dtype).toBe('BF16');
      expect(g.tensor('blk.0.attn_norm.weight').dtype).toBe('F32');
    } finally {
      await g.close();
    }
  });

  it('rejects an unknown format or dtype', async () => {
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-mha');
    await expect(
      exportCommand({ model: fx, format: 'onnx', output: path.join(dir, 'x'), dtype: 'f32' }),
    ).rejects.toThrow(/format/);
    await expect(
      exportCommand({ model: fx, format: 'gguf', output: path.join(dir, 'x'), dtype: 'q4' }),
    ).rejects.toThrow(/dtype/);
  });

  it('refuses a tokenizer larger than the model vocabulary', () => {
    const fx = path.join(sharedFixtures, 'minicpm', 'tiny-mha');
    expect(() => exportVocab(fx, 320, TOK)).toThrow(/vocab_size/);
  });
});

describe.skipIf(!hasShared || !fs.existsSync(TOK))(
  'ggufVocabFromTokenizer (MiniCPM-2B tokenizer.model)',
  () => {
    it('carries pieces, scores, types and special ids; pads to vocab_size', () => {
      const { tokenizer } = loadTokenizer(TOK);
      const n = tokenizer.vocabSize;
      const v = ggufVocabFromTokenizer(tokenizer, n + 2);
      expect(v.model).toBe('llama');
      expect(v.tokens.length).toBe(n + 2);
      expect(v.tokens.slice(0, 3)).toEqual([
        tokenizer.idToPiece(0),
        tokenizer.idToPiece(1),
        tokenizer.idToPiece(2),
      ]);
      expect([v.bosId, v.eosId, v.unkId]).toEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.unkId]);
      expect(v.tokenTypes[tokenizer.bosId]).toBe(PieceType.Control);
      expect(v.tokenTypes[tokenizer.unkId]).toBe(PieceType.Unknown);
      const nl = tokenizer.pieceToId('<0x0A>');
      expect(nl).toBeDefined();
      expect(v.tokenTypes[nl!]).toBe(PieceType.Byte);
      expect(v.tokens[n + 1]).toBe(`[PAD${n + 1}]`);
      expect(v.tokenTypes[n + 1]).toBe(PieceType.Unused);
      // every piece round-trips and ids keep their meaning
      for (const id of [3, 100, 5000, n - 1]) expect(v.tokens[id]).toBe(tokenizer.idToPiece(id));
      expect(v.scores[100]).toBeCloseTo((tokenizer as unknown as { scores: Float32Array }).scores[100], 6);
    });
  },
);
