/** The whole model against the float64 PyTorch reference in ../shared/fixtures/minicpm (llm.c's test_gpt2). */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { recordToTensor } from '../../src/models/weights.js';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

import { FIXTURES, haveFixtures as have, loadFixture } from '../helpers/fixtures.js';
if (!have) console.warn(`skipping MiniCPM fixture tests: ${FIXTURES} is absent`);

interface Expected {
  inputs: number[][];
  targets: number[][];
  loss: number;
}

function load(name: string, weights = 'model.safetensors') {
  const { dir, config, model, expected } = loadFixture<Expected>(name, weights);
  const ids = Tensor.from(
    Int32Array.from(expected.inputs.flat()),
    [expected.inputs.length, expected.inputs[0].length],
    'i32',
  );
  const targets = Tensor.from(
    Int32Array.from(expected.targets.flat()),
    [expected.targets.length, expected.targets[0].length],
    'i32',
  );
  return { dir, config, model, expected, ids, targets };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const { name: backendName, backend } of backendCases()) {
  for (const fixture of ['tiny-mha', 'tiny-gqa']) {
    describe.skipIf(!have || !backend)(`${fixture} on ${backendName}`, () => {
      it('logits within 1e-4 and loss within 1e-5 of the reference', () => {
        install(backend);
        const { dir, model, expected, ids, targets } = load(fixture);
        const want = recordToTensor(
          openSafetensorsSync(path.join(dir, 'expected.safetensors')).readSync('logits'),
        );
        const logits = T.noGrad(() => model.forward(ids));
        expect(logits.shape).toEqual(want.shape);
        expect(maxAbsDiff(logits.toArray(), want.toArray())).toBeLessThan(1e-4);
        const loss = T.noGrad(() => model.loss(ids, targets)).item();
        expect(Math.abs(loss - expected.loss)).toBeLessThan(1e-5);
      });

      it('every parameter gradient within 1e-4 of its max', () => {
        install(backend);
        const { dir, model, ids, targets } = load(fixture);
        T.backward(model.loss(ids, targets));
        const grads = openSafetensorsSync(path.join(dir, 'grads.safetensors'));
        for (const [name, p] of model.params) {
          const want = recordToTensor(grads.readSync(name)).toArray();
          const scale = Math.max(...want.map(Math.abs));
          const err = maxAbsDiff(p.grad!.toArray(), want);
          expect(err / scale, name).toBeLessThan(1e-4);
        }
      });

      it('the bf16 weights give the bf16 expected logits', () => {
        install(backend);
        const { dir, model, ids } = load(fixture, 'model.bf16.safetensors');
        const want = recordToTensor(
          openSafetensorsSync(path.join(dir, 'expected_bf16.safetensors')).readSync('logits'),
        );
        const logits = T.noGrad(() => model.forward(ids));
        expect(maxAbsDiff(logits.toArray(), want.toArray())).toBeLessThan(1e-4);
      });
    });
  }
}
