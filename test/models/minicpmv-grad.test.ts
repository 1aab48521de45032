/**
 * Finite-difference gradients (float64, reference backend) through the vision tower, the resampler and
 * the splice on a tiny MiniCPM-V: what training the resampler and the tower relies on. The grids are
 * chosen so both position-table resizes do real work (antialiased 4×4 → 3×3, plain 2×2 → 3×3).
 */
import { describe, expect, it } from 'vitest';
import { refBackend } from '../../src/backends/index.js';
import { minicpmvConfigFromHF } from '../../src/models/minicpmv-config.js';
import { initVisionParams } from '../../src/models/minicpmv-init.js';
import { spliceImages } from '../../src/models/minicpmv-splice.js';
import { Resampler } from '../../src/models/resampler.js';
import { SiglipVision } from '../../src/models/siglip.js';
import * as T from '../../src/tensor/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { gradCheck, randomF64 } from '../helpers/gradcheck.js';

T.setBackend(refBackend());
const config = minicpmvConfigFromHF({
  model_type: 'minicpmv',
  vocab_size: 16,
  hidden_size: 128,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  query_num: 4,
  image_size: 42,
  vision_config: {
    hidden_size: 8,
    num_attention_heads: 2,
    intermediate_size: 12,
    num_hidden_layers: 3,
    patch_size: 14,
    image_size: 56,
  },
});
const rng = new Rng(5);
// f64 copies with non-trivial values everywhere (a fresh init has zero biases and unit gains)
const base = new Map<string, Tensor>();
for (const [name, t] of initVisionParams(config, rng, 0.3))
  base.set(name, T.add(T.cast(t, 'f64'), randomF64(rng, [...t.shape], 0.1)));

/** f(xs) with the named parameters replaced by the checked inputs. */
function withParams(names: string[], run: (p: (n: string) => Tensor) => Tensor): (xs: Tensor[]) => Tensor {
  return (xs) => run((n) => (names.includes(n) ? xs[names.indexOf(n)] : base.get(n)!));
}

function expectGrad(f: (xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  const res = gradCheck(f, inputs);
  expect(res.maxError, res.worst).toBeLessThan(1e-6);
}

describe('MiniCPM-V gradients match finite differences', () => {
  it('vision tower: position table, fused qkv, MLP bias, LayerNorm gain, patch bias', () => {
    const pixels = randomF64(rng, [1, 3, 42, 42]);
    const names = [
      'vpm.pos_embed',
      'vpm.blocks.0.attn.qkv.weight',
      'vpm.blocks.1.mlp.fc1.bias',
      'vpm.blocks.0.norm1.weight',
      'vpm.patch_embed.proj.bias',
    ];
    const f = withParams(names, (p) => new SiglipVision(config.vision, p).forward(pixels));
    expectGrad(
      f,
      names.map((n) => base.get(n)!),
    );
  });

  it('resampler: features (through kv_proj), ln_q, ln_kv, the q/k/v input projection biases', () => {
    const features = randomF64(rng, [1, 9, 8]);
    // (the largest matrices are left out for time: matmul's rule is checked on its own)
    const names = ['resampler.ln_q.bias', 'resampler.ln_kv.weight', 'resampler.attn.in_proj_bias'];
    const f = (xs: Tensor[]) =>
      withParams(names, (p) => new Resampler(config, p).forward(xs[3], [3, 3]))(xs.slice(0, 3));
    expectGrad(f, [...names.map((n) => base.get(n)!), features]);
  });

  it('the splice passes gradients to text rows and image rows', () => {
    const ids = [3, 101, 0, 0, 0, 0, 102, 5];
    expectGrad(
      ([e, img]) => spliceImages(e, ids, [[img]], 4),
      [randomF64(rng, [1, 8, 3]), randomF64(rng, [4, 3])],
    );
  });
});
