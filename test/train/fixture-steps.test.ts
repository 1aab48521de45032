/** Ten AdamW steps with μP groups, WSD and clipping reproduce the reference losses (SPEC §2–3). */
import { describe, expect, it } from 'vitest';
import { widthMultiplier } from '../../src/models/config.js';
import * as T from '../../src/tensor/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { AdamW, muPGroups } from '../../src/train/optimizer.js';
import { lrAt } from '../../src/train/schedules.js';
import { backendCases, install } from '../helpers/backends.js';

import { haveFixtures as have, loadFixture } from '../helpers/fixtures.js';

interface TrainRef {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  clip: number;
  warmup: number;
  stable_end: number;
  half_life: number;
  steps: number;
  scale_width: number;
  lrs: number[];
  grad_norms_before_clip: number[];
  losses: number[];
}

for (const { name: backendName, backend } of backendCases()) {
  for (const fixture of ['tiny-mha', 'tiny-gqa']) {
    describe.skipIf(!have || !backend)(`${fixture} training on ${backendName}`, () => {
      it('ten steps match the reference losses within 1e-4', () => {
        install(backend);
        const {
          config,
          model,
          expected: ex,
        } = loadFixture<{
          inputs: number[][];
          targets: number[][];
          train: TrainRef;
        }>(fixture);
        const tr = ex.train;
        expect(widthMultiplier(config)).toBe(tr.scale_width);
        const ids = Tensor.from(
          Int32Array.from(ex.inputs.flat()),
          [ex.inputs.length, ex.inputs[0].length],
          'i32',
        );
        const targets = Tensor.from(
          Int32Array.from(ex.targets.flat()),
          [ex.targets.length, ex.targets[0].length],
          'i32',
        );
        const opt = new AdamW(muPGroups(model.params, widthMultiplier(config), tr.weight_decay), {
          betas: tr.betas,
          eps: tr.eps,
          weightDecay: tr.weight_decay,
          clip: tr.clip,
        });
        const spec = {
          kind: 'wsd',
          peak: tr.lr,
          warmupSteps: tr.warmup,
          decayStart: tr.stable_end,
          decay: 'exp',
          halfLife: tr.half_life,
        } as const;
        for (let s = 0; s < tr.steps; s++) {
          expect(Math.abs(lrAt(spec, s) - tr.lrs[s])).toBeLessThan(1e-12);
          T.scope(() => {
            const loss = model.loss(ids, targets);
            expect(Math.abs(loss.item() - tr.losses[s]), `loss at step ${s}`).toBeLessThan(1e-4);
            T.backward(loss);
            const norm = opt.update(lrAt(spec, s));
            expect(Math.abs(norm - tr.grad_norms_before_clip[s]), `grad norm at step ${s}`).toBeLessThan(
              1e-4,
            );
            T.zeroGrad(model.parameters());
          });
        }
      });
    });
  }
}
