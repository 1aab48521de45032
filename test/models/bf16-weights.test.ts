/** Inference with bf16 weights (f32 activations): the bf16 fixture's logits and cached decoding. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAll } from '../../src/engine/generate.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { recordToTensor } from '../../src/models/weights.js';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

import { haveFixtures as have, loadFixture } from '../helpers/fixtures.js';

for (const { name: backendName, backend } of backendCases()) {
  describe.skipIf(!have || !backend)(`bf16 weights on ${backendName}`, () => {
    it('logits match the bf16 reference (activations may round to bf16 inside vdpbf16ps)', () => {
      install(backend);
      const {
        dir,
        model,
        expected: ex,
      } = loadFixture<{
        inputs: number[][];
        greedy: { prompt: number[]; ids: number[] };
      }>('tiny-gqa', 'model.bf16.safetensors', {
        weightDtype: 'bf16',
      });
      expect(model.p('model.layers.0.self_attn.q_proj.weight').dtype).toBe('bf16');
      const ids = Tensor.from(
        Int32Array.from(ex.inputs.flat()),
        [ex.inputs.length, ex.inputs[0].length],
        'i32',
      );
      const want = recordToTensor(
        openSafetensorsSync(path.join(dir, 'expected_bf16.safetensors')).readSync('logits'),
      ).toArray();
      const got = T.noGrad(() => model.forward(ids)).toArray();
      const scale = Math.max(...want.map(Math.abs));
      let err = 0;
      got.forEach((v, i) => (err = Math.max(err, Math.abs(v - want[i]))));
      expect(err / scale).toBeLessThan(2e-2);
    });

    it('greedy generation with bf16 weights reproduces the reference ids', async () => {
      install(backend);
      const { model, expected: ex } = loadFixture<{
        greedy: { prompt: number[]; ids: number[]; min_top1_margin: number };
      }>('tiny-mha', 'model.safetensors', {
        weightDtype: 'bf16',
      });
      const { prompt, ids } = ex.greedy;
      const [out] = await generateAll(model, [prompt], {
        greedy: true,
        maxNewTokens: ids.length - prompt.length,
        stopIds: [],
      });
      expect([...prompt, ...out]).toEqual(ids);
    });
  });
}
