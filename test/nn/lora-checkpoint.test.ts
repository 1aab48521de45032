/**
 * Per-layer activation checkpointing in MiniCPM (model.checkpointLayers): LoRA with dropout on f32, int8
 * and int4 bases, and full fine-tuning, give bit for bit the loss and gradients of the recorded graph, and
 * leave the dropout stream where the plain run leaves it (so resumed runs still draw the same masks).
 */
import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { initLora, useLayerCheckpoints } from '../../src/align/lora.js';
import { quantizeLinears } from '../../src/align/lora-base.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { backward, pool, Rng, scope, Tensor, zeroGrad } from '../../src/tensor/index.js';

const config = presetConfig('tiny', 97, { numLayers: 3 });
const T = 16;

function batch() {
  const rng = new Rng(4);
  const ids = Int32Array.from({ length: 2 * T }, () => rng.int(97));
  const targets = Int32Array.from({ length: 2 * T }, (_, i) => (i % T === T - 1 ? -100 : ids[i + 1]));
  return { ids: Tensor.from(ids, [2, T], 'i32'), targets: Tensor.from(targets, [2, T], 'i32') };
}

type Base = 'f32' | 'int8' | 'int4' | 'full';

/** Two training steps' gradients (the second draws fresh masks), the stream state and the forward's memory. */
function train(base: Base, ck: boolean) {
  const model = MiniCPM.init(config, new Rng(1));
  if (base === 'int8' || base === 'int4') expect(quantizeLinears(model, base === 'int8' ? 8 : 4)).toBe(21);
  const lora =
    base === 'full'
      ? undefined
      : initLora(
          model,
          {
            r: 4,
            alpha: 8,
            dropout: 0.2,
            targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
            rslora: false,
          },
          2,
        );
  // B ≠ 0 so that every adapter (and each layer's input) has a gradient
  const rng = new Rng(3);
  for (const { B } of lora?.modules.values() ?? [])
    (B.data as Float32Array).forEach((_, i, d) => (d[i] = 0.05 * rng.normal()));
  useLayerCheckpoints(model, ck, lora);
  const trained = lora ? lora.parameters() : model.parameters();
  const { ids, targets } = batch();
  const out: { loss: number; grads: number[][] }[] = [];
  let forwardBytes = 0;
  for (let step = 0; step < 2; step++) {
    const loss = scope(() => {
      const before = pool.stats.liveBytes;
      const l = model.loss(ids, targets);
      forwardBytes = pool.stats.liveBytes - before;
      backward(l);
      return l.item();
    });
    out.push({ loss, grads: trained.map((p) => Array.from(p.grad!.data as Float32Array)) });
    zeroGrad(trained);
  }
  return { out, state: lora?.rng.getState(), forwardBytes };
}

describe('checkpointed decoder layers', () => {
  for (const base of ['f32', 'int8', 'int4', 'full'] as const)
    it(`${base === 'full' ? 'full fine-tuning' : `LoRA (dropout 0.2) on a ${base} base`}: same loss and gradients, bit for bit`, () => {
      const plain = train(base, false);
      const ck = train(base, true);
      for (let s = 0; s < 2; s++) {
        expect(ck.out[s].loss).toBe(plain.out[s].loss);
        ck.out[s].grads.forEach((g, i) => expect(g, `step ${s}, tensor ${i}`).toEqual(plain.out[s].grads[i]));
      }
      expect(ck.state).toEqual(plain.state);
      // the second step's masks differ from the first's: dropout is really drawn
      if (base !== 'full') expect(ck.out[1].grads).not.toEqual(ck.out[0].grads);
      // the checkpointed forward keeps layer inputs, not layer activations
      expect(ck.forwardBytes).toBeLessThan(plain.forwardBytes / 2);
    });

  it('is on by default exactly for LoRA runs', () => {
    const model = MiniCPM.init(config, new Rng(1));
    useLayerCheckpoints(model, null);
    expect(model.checkpointLayers).toBeNull();
    const lora = initLora(model, { r: 2, alpha: 4, dropout: 0.1, targets: ['q_proj'], rslora: false }, 0);
    useLayerCheckpoints(model, null, lora);
    expect(model.checkpointLayers?.replay).toEqual([lora.rng]);
    useLayerCheckpoints(model, false, lora);
    expect(model.checkpointLayers).toBeNull();
    useLayerCheckpoints(model, true);
    expect(model.checkpointLayers?.replay).toEqual([]);
  });
});
