/**
 * Quantized models on the wasm backend (useBackend('wasm'): weights in wasm memory, the module's int4/int8
 * kernels): a Q4_0 and a Q8_0 GGUF and a GPTQ W4 act-order folder give bit-identical prefill logits and
 * greedy ids with the TypeScript twin in place of the module's quantized kernels, and logits close to the
 * reference backend's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { setQuantKernels, refQuantKernels } from '../../src/backends/quant.js';
import { generateAll } from '../../src/engine/generate.js';
import { configFromHF } from '../../src/models/config.js';
import { exportModelToGguf } from '../../src/models/gguf-export.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { saveQuantizedModel } from '../../src/quant/gptq-folder.js';
import { loadQuantizedModel } from '../../src/quant/load-quantized.js';
import { quantizeModel } from '../../src/quant/quantize-model.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { syntheticGgufVocab } from '../../src/tokenizer/gguf-export.js';

const tmp = mkdtempSync(join(tmpdir(), 'minicpm-wasm-quant-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  useBackend('auto');
});

const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 128,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
});
const PROMPT = [1, 17, 42, 5, 99, 23, 64, 8, 31];

/** A model with weights wide enough for varied greedy answers. */
function model(): MiniCPM {
  const m = MiniCPM.init(config, new Rng(4));
  const rng = new Rng(5);
  for (const [name, p] of m.params) {
    const d = p.data as Float32Array;
    for (let i = 0; i < d.length; i++)
      d[i] = name.endsWith('norm.weight') ? 1 + 0.1 * rng.normal() : 0.25 * rng.normal();
  }
  return m;
}

async function run(load: () => Promise<MiniCPM>): Promise<{ logits: Float32Array; ids: number[] }> {
  const m = await load();
  const logits = noGrad(() =>
    Float32Array.from(m.forward(Tensor.from(Int32Array.from(PROMPT), [1, PROMPT.length], 'i32')).toArray()),
  );
  const [ids] = await generateAll(m, [PROMPT], { greedy: true, maxNewTokens: 8, stopIds: [] });
  return { logits, ids };
}

/**
 * The same load on the wasm backend with the TypeScript twin as its quantized kernels, then with the
 * module's: the SIMD128 tiles compute what the twin does, so logits and ids are identical. Against the
 * reference backend the float kernels differ in rounding, which can move an activation across an int8
 * rounding boundary: close, not equal.
 */
async function compare(load: () => Promise<MiniCPM>): Promise<void> {
  useBackend('wasm');
  setQuantKernels(refQuantKernels);
  const twin = await run(load);
  useBackend('wasm');
  const got = await run(load);
  expect(Array.from(got.logits)).toEqual(Array.from(twin.logits));
  expect(new Set(got.ids).size).toBeGreaterThan(2);
  expect(got.ids).toEqual(twin.ids);
  useBackend('ref');
  setQuantKernels(refQuantKernels);
  const ref = await run(load);
  let scale = 0;
  for (const v of ref.logits) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < ref.logits.length; i++)
    if (!(Math.abs(got.logits[i] - ref.logits[i]) <= 0.01 * scale))
      expect.fail(`logit ${i}: wasm ${got.logits[i]}, reference ${ref.logits[i]} (scale ${scale})`);
}

describe('quantized models on the wasm backend', () => {
  for (const dtype of ['q4_0', 'q8_0'] as const)
    it(`${dtype} GGUF`, async () => {
      useBackend('auto');
      const file = join(tmp, `m-${dtype}.gguf`);
      await exportModelToGguf(model(), file, { dtype, tokenizer: syntheticGgufVocab(config.vocabSize) });
      await compare(() => loadGgufModel(file, {}, () => {}));
    });

  it('GPTQ W4 act-order folder', async () => {
    useBackend('auto');
    const dir = join(tmp, 'w4');
    const rng = new Rng(6);
    const seqs = [0, 1, 2].map(() => Array.from({ length: 32 }, () => Math.floor(rng.uniform() * 128)));
    await saveQuantizedModel(dir, quantizeModel(model(), seqs, { bits: 4, groupSize: 32, actOrder: true }));
    await compare(() => loadQuantizedModel(dir));
  });
});
