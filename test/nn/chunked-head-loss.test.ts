/**
 * The chunked head loss (nn/chunked-head-loss.ts) equals cross-entropy over the whole logits: loss and
 * d(loss)/d(h) through f32 and bf16 heads, ignored targets, a block with no target, a last short block,
 * a seed other than 1; and in MiniCPM.loss on a vocabulary large enough to take that path, the LoRA
 * gradients equal those of the full logits.
 */
import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { initLora } from '../../src/align/lora.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { chunkedHeadLoss, headBlockRows } from '../../src/nn/chunked-head-loss.js';
import {
  backward,
  crossEntropy,
  f32ToBf16,
  linear,
  pool,
  reshape,
  Rng,
  scope,
  Tensor,
  zeroGrad,
} from '../../src/tensor/index.js';

function expectClose(got: number[], want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < got.length; i++)
    expect(Math.abs(got[i] - want[i]), `element ${i}`).toBeLessThanOrEqual(tol * scale);
}

describe('chunkedHeadLoss', () => {
  for (const dtype of ['f32', 'bf16'] as const)
    it(`equals cross-entropy over all logits (${dtype} head, blocks of 3 over 10 rows, seed 0.5)`, () => {
      const rng = new Rng(2);
      const [N, d, V] = [10, 12, 37];
      const wv = Float32Array.from({ length: V * d }, () => rng.normal());
      const W =
        dtype === 'f32'
          ? Tensor.from(wv, [V, d])
          : Tensor.from(Uint16Array.from(wv, f32ToBf16), [V, d], 'bf16');
      const hv = Float32Array.from({ length: N * d }, () => rng.normal());
      // rows 3-5 (the second block) all ignored, row 8 too
      const t = Int32Array.from({ length: N }, (_, i) => ((i >= 3 && i < 6) || i === 8 ? -100 : rng.int(V)));
      const run = (chunked: boolean) => {
        const h = Tensor.parameter(Tensor.from(hv.slice(), [N, d]));
        const loss = scope(() => {
          const targets = Tensor.from(t, [N], 'i32');
          const l = chunked
            ? chunkedHeadLoss(h, targets, (rows) => linear(rows, W), 3)
            : crossEntropy(linear(h, W), targets);
          backward(l, Tensor.full([], 0.5));
          return l.item();
        });
        return { loss, dh: h.grad!.toArray() };
      };
      const want = run(false);
      const got = run(true);
      // the bf16 kernels round differently for 3 rows than for 10 (which product path they take)
      const tol = dtype === 'f32' ? 1e-6 : 2e-3;
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(tol * want.loss);
      expectClose(got.dh, want.dh, 10 * tol);
      expect(got.dh.slice(3 * d, 6 * d).every((v) => v === 0)).toBe(true);
    });

  it('blocks hold about 16 M logits', () => {
    expect(headBlockRows(122753)).toBe(136);
    expect(headBlockRows(2 ** 30)).toBe(1);
  });
});

describe('MiniCPM.loss with a frozen head over many logits', () => {
  it('takes the block path and gives the LoRA gradients of the full logits', () => {
    const V = 65536;
    const T = 257; // T·V just above 2^24: the block path
    const model = MiniCPM.init(presetConfig('tiny', V, { numLayers: 1 }), new Rng(1));
    const lora = initLora(
      model,
      { r: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'down_proj'], rslora: false },
      2,
    );
    const rng = new Rng(3);
    for (const { B } of lora.modules.values())
      (B.data as Float32Array).forEach((_, i, d) => (d[i] = 0.05 * rng.normal()));
    const ids = Int32Array.from({ length: T }, () => rng.int(V));
    const targets = Int32Array.from({ length: T }, (_, i) => (i === T - 1 ? -100 : ids[i + 1]));
    const run = (blocks: boolean) => {
      let peak = 0;
      const loss = scope(() => {
        const x = Tensor.from(ids, [1, T], 'i32');
        const y = Tensor.from(targets, [1, T], 'i32');
        const before = pool.stats.liveBytes;
        const l = blocks
          ? model.loss(x, y)
          : crossEntropy(reshape(model.forward(x), [-1, V]), reshape(y, [-1]));
        peak = pool.stats.liveBytes - before;
        backward(l);
        return l.item();
      });
      const grads = lora.parameters().map((p) => p.grad!.toArray());
      zeroGrad(lora.parameters());
      return { loss, grads, peak };
    };
    const want = run(false);
    const got = run(true);
    expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * want.loss);
    got.grads.forEach((g, i) => expectClose(g, want.grads[i], 1e-4));
    // no [T, V] logits stay alive after the forward
    expect(got.peak).toBeLessThan(T * V);
    expect(want.peak).toBeGreaterThan(T * V * 4);
  });
});
