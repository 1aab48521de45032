/**
 * LoRA inside the model: gradients of the adapters by finite differences on a tiny config, only adapter
 * gradients computed, and LoRA with r = full rank, A = I, B = 0 taking the same first step as full
 * fine-tuning of the targeted matrices.
 */
import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { initLora } from '../../src/align/lora.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { backward, noGrad, Rng, scope, Tensor, zeroGrad } from '../../src/tensor/index.js';
import { AdamW } from '../../src/train/optimizer.js';

const config = presetConfig('tiny', 97, { numLayers: 2 });
const T = 12;

function batch(seed: number) {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: 2 * T }, () => rng.int(97));
  const targets = Int32Array.from({ length: 2 * T }, (_, i) => (i % T === T - 1 ? -100 : ids[i + 1]));
  return {
    ids: () => Tensor.from(ids, [2, T], 'i32'),
    targets: () => Tensor.from(targets, [2, T], 'i32'),
  };
}

describe('LoRA in MiniCPM', () => {
  it('adapter gradients match central differences (f32, tiny config)', () => {
    const model = MiniCPM.init(config, new Rng(1));
    const lora = initLora(
      model,
      { r: 3, alpha: 6, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], rslora: false },
      2,
    );
    // B ≠ 0 so that A has a gradient too
    const rng = new Rng(3);
    for (const { B } of lora.modules.values())
      (B.data as Float32Array).forEach((_, i, d) => (d[i] = 0.05 * rng.normal()));
    const b = batch(4);
    const loss = () => scope(() => model.loss(b.ids(), b.targets()).item());
    scope(() => backward(model.loss(b.ids(), b.targets())));
    // the frozen base gets no gradient at all
    expect([...model.params.values()].every((p) => p.grad === null)).toBe(true);
    let checked = 0;
    for (const p of lora.parameters()) {
      const g = p.grad!.toArray();
      const d = p.data as Float32Array;
      // the largest gradients of each matrix, where f32 differences are well above rounding
      const idx = [...g.keys()].sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 4);
      for (const i of idx) {
        const orig = d[i];
        const eps = 1e-2;
        d[i] = orig + eps;
        const up = noGrad(loss);
        d[i] = orig - eps;
        const down = noGrad(loss);
        d[i] = orig;
        const numeric = (up - down) / (2 * eps);
        expect(Math.abs(numeric - g[i]), `${p.name}[${i}] analytic ${g[i]} numeric ${numeric}`).toBeLessThan(
          0.03 * Math.abs(g[i]) + 2e-4,
        );
        checked++;
      }
    }
    expect(checked).toBe(4 * 2 * 3 * 2);
    zeroGrad(lora.parameters());
  });

  it('r = full rank, A = I, B = 0: the first step equals full fine-tuning of the targeted matrices', () => {
    const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj'];
    const d = config.hiddenSize;
    const alpha = 2 * d;
    const s = alpha / d;
    const lr = 1e-3;
    const adam = { betas: [0.9, 0.95] as [number, number], eps: 1e-12, weightDecay: 0, clip: 1 };
    const b = batch(5);

    // Full fine-tuning of just the targeted weights.
    const full = MiniCPM.init(config, new Rng(7));
    const trained = [...full.params].filter(([n]) => targets.some((t) => n.endsWith(`${t}.weight`)));
    for (const [n, p] of full.params) p.requiresGrad = trained.some(([m]) => m === n);
    const optFull = new AdamW(
      [{ name: 'targets', params: trained.map(([, p]) => p), lrScale: 1, weightDecay: 0 }],
      adam,
    );
    const loss0 = scope(() => {
      const l = full.loss(b.ids(), b.targets());
      backward(l);
      return l.item();
    });
    const gradW = new Map(trained.map(([n, p]) => [n.replace(/\.weight$/, ''), p.grad!.toArray()]));
    optFull.update(lr);
    const lossFull = noGrad(() => scope(() => full.loss(b.ids(), b.targets()).item()));

    // LoRA on the same base: A = I makes s·B·A = s·B, so dL/dB = s·dL/dW and Adam's first step on B
    // (scale-free) moves W_eff by s · (lr/s) · sign-like(dL/dW): full fine-tuning's step.
    const base = MiniCPM.init(config, new Rng(7));
    const lora = initLora(base, { r: d, alpha, dropout: 0, targets, rslora: false }, 0);
    for (const { A } of lora.modules.values()) {
      const a = A.data as Float32Array;
      a.fill(0);
      for (let i = 0; i < d; i++) a[i * d + i] = 1;
    }
    const optLora = new AdamW(
      [{ name: 'lora', params: lora.parameters(), lrScale: 1, weightDecay: 0 }],
      adam,
    );
    const lossLora0 = scope(() => {
      const l = base.loss(b.ids(), b.targets());
      backward(l);
      return l.item();
    });
    expect(lossLora0).toBe(loss0);
    for (const [m, { B }] of lora.modules) {
      const gB = B.grad!.toArray();
      const gW = gradW.get(m)!;
      const scale = Math.max(...gW.map(Math.abs));
      gB.forEach((v, i) => expect(Math.abs(v - s * gW[i])).toBeLessThan(1e-5 * s * scale + 1e-9));
    }
    optLora.update(lr / s);
    const lossLora = noGrad(() => scope(() => base.loss(b.ids(), b.targets()).item()));
    expect(lossFull).not.toBeCloseTo(loss0, 3);
    expect(Math.abs(lossLora - lossFull)).toBeLessThan(1e-4);
  });
});
