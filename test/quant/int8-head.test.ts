// Float rows into W2/W4/W8 (quantizeToQWeight) within half a step of every value, and --head-dtype int8: the
// tied head and embedding as int8 rows, logits within 1% of their range and the same top-1.

import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { applyHeadDtype, useInt8Head } from '../../src/quant/int8-head.js';
import { QuantizedLinears } from '../../src/quant/qlinear.js';
import { dequantizeQWeight, paramAt } from '../../src/quant/qweight.js';
import { dequantizeRow, quantizeToQWeight } from '../../src/quant/qweight-quantize.js';
import { f16ToF32, f32ToBf16, noGrad, Rng, Tensor } from '../../src/tensor/index.js';

useBackend('auto');

describe('quantizeToQWeight', () => {
  for (const bits of [2, 4, 8] as const) {
    it(`W${bits}: every value within half a step, rows dequantize alone to the same values`, () => {
      const rng = new Rng(bits);
      const out = 37;
      const K = 96;
      const src = Float32Array.from({ length: out * K }, (_, i) => rng.normal() * (1 + (i % 5)));
      const w = quantizeToQWeight(src, out, K, bits);
      const deq = dequantizeQWeight(w);
      for (let r = 0; r < out; r++) {
        const row = new Float32Array(K);
        dequantizeRow(w, r, row);
        expect(row).toEqual(deq.subarray(r * K, (r + 1) * K));
        for (let c = 0; c < K; c++) {
          const step = f16ToF32(w.scales[paramAt(w, r, Math.floor(c / 32))]);
          expect(Math.abs(deq[r * K + c] - src[r * K + c])).toBeLessThanOrEqual(step * 0.5 + 1e-6 * step);
        }
      }
      // bf16 input gives the same as its f32 widening
      const bf = Uint16Array.from(src, (v) => f32ToBf16(v));
      const widened = Float32Array.from(bf, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]);
      expect(quantizeToQWeight(bf, out, K, bits, true).codes).toEqual(
        quantizeToQWeight(widened, out, K, bits).codes,
      );
    });
  }
});

describe('--head-dtype int8', () => {
  it('runs the tied head and embedding as int8 rows, close to the float model', () => {
    const config = configFromHF({
      model_type: 'minicpm',
      vocab_size: 200,
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      scale_emb: 4,
      dim_model_base: 32,
    });
    const rng = new Rng(9);
    const ids = Tensor.from(
      Int32Array.from({ length: 40 }, () => Math.floor(rng.uniform() * 200)),
      [2, 20],
      'i32',
    );
    const float = MiniCPM.init(config, new Rng(1));
    const want = noGrad(() => float.forward(ids).toArray());
    const m = MiniCPM.init(config, new Rng(1));
    const bytes = useInt8Head(m);
    expect(bytes).toBe(13 * 2 * (512 + 16 * 3)); // 13 tiles (208 padded rows) × 2 blocks: codes, fp16 scales, zeros
    expect(m.params.has('model.embed_tokens.weight')).toBe(false);
    expect((m.linearRunner as QuantizedLinears).embedding).not.toBeNull();
    const got = noGrad(() => m.forward(ids).toArray());
    const V = 200;
    let same = 0;
    for (let p = 0; p < 40; p++) {
      const a = got.slice(p * V, (p + 1) * V);
      const b = want.slice(p * V, (p + 1) * V);
      const range = Math.max(...b) - Math.min(...b);
      for (let i = 0; i < V; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(0.01 * range);
      same += a.indexOf(Math.max(...a)) === b.indexOf(Math.max(...b)) ? 1 : 0;
    }
    expect(same / 40).toBeGreaterThanOrEqual(0.95);
    expect(() => noGrad(() => m.forward(Tensor.from(Int32Array.of(200), [1, 1], 'i32')))).toThrow(
      /vocabulary/,
    );
    expect(() => applyHeadDtype(m, 'int4')).toThrow(/--head-dtype must be float or int8/);
    expect(() => useInt8Head(m)).toThrow(/no parameter/); // the float table is gone
  });
});
