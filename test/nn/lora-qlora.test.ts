/**
 * QLoRA on a bf16 base: the input gradient dy · W read from the bf16 bits panel by panel (never an f32
 * copy of W), and adapter gradients through a bf16 model equal those through the same weights in f32.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { initLora } from '../../src/align/lora.js';
import {
  backward,
  bf16ToF32,
  f32ToBf16,
  linear,
  matmul,
  Rng,
  scope,
  sum,
  mul,
  Tensor,
} from '../../src/tensor/index.js';
import { QuantizedLinears, qlinears } from '../../src/quant/qlinear.js';
import { dequantizeQWeight, type QWeight } from '../../src/quant/qweight.js';
import { quantizeToQWeight } from '../../src/quant/qweight-quantize.js';
import { backendCases, install } from '../helpers/backends.js';
import { haveFixtures, loadFixture } from '../helpers/fixtures.js';

function bf16Pair(rng: Rng, shape: [number, number]) {
  const n = shape[0] * shape[1];
  const bits = Uint16Array.from({ length: n }, () => f32ToBf16(rng.normal()));
  return {
    w16: Tensor.from(bits, shape, 'bf16'),
    w32: Tensor.from(Float32Array.from(bits, bf16ToF32), shape),
  };
}

const randn = (rng: Rng, shape: number[]) =>
  Tensor.from(
    Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => rng.normal()),
    shape,
  );

function expectClose(got: number[], want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...want.map(Math.abs));
  for (let i = 0; i < got.length; i++)
    expect(Math.abs(got[i] - want[i]), `element ${i}`).toBeLessThan(tol * scale);
}

for (const { name, backend } of backendCases()) {
  (backend ? describe : describe.skip)(`dy · W with W in bf16 (${name})`, () => {
    beforeAll(() => install(backend));
    // K: a single short panel, exactly one 64-row panel, several with a remainder; batched and not
    for (const [M, K, N, batch] of [
      [3, 5, 7, 0],
      [4, 64, 33, 0],
      [5, 130, 48, 2],
      [1, 200, 16, 3],
    ])
      it(`[${batch ? `${batch}, ` : ''}${M}, ${K}] · [${K}, ${N}]`, () => {
        scope(() => {
          const rng = new Rng(K);
          const { w16, w32 } = bf16Pair(rng, [K, N]);
          const dy = randn(rng, batch ? [batch, M, K] : [M, K]);
          expectClose(matmul(dy, w16).toArray(), matmul(dy, w32).toArray(), 1e-5);
        });
      });

    it('a frozen bf16 linear passes the gradient to its input', () => {
      scope(() => {
        const rng = new Rng(9);
        const { w16, w32 } = bf16Pair(rng, [70, 90]); // W [out 70, in 90]
        const x16 = Tensor.parameter(randn(rng, [2, 3, 90]));
        const x32 = Tensor.parameter(x16.contiguousCopy());
        const R = randn(rng, [2, 3, 70]);
        backward(sum(mul(linear(x16, w16), R)));
        backward(sum(mul(linear(x32, w32), R)));
        expectClose(x16.grad!.toArray(), x32.grad!.toArray(), 1e-5);
      });
    });
  });
}

(haveFixtures ? describe : describe.skip)('QLoRA on the bf16 tiny-gqa fixture', () => {
  it('adapter gradients through bf16 weights equal those through the same weights held in f32', () => {
    type E = { inputs: number[][]; targets: number[][] };
    const grads = (weightDtype: 'f32' | 'bf16') => {
      const f = loadFixture<E>('tiny-gqa', 'model.bf16.safetensors', { weightDtype });
      const lora = initLora(
        f.model,
        { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'o_proj', 'up_proj', 'down_proj'], rslora: false },
        3,
      );
      const rng = new Rng(5);
      for (const { B } of lora.modules.values())
        (B.data as Float32Array).forEach((_, i, d) => (d[i] = 0.1 * rng.normal()));
      const shape = [f.expected.inputs.length, f.expected.inputs[0].length];
      const loss = scope(() => {
        const l = f.model.loss(
          Tensor.from(Int32Array.from(f.expected.inputs.flat()), shape, 'i32'),
          Tensor.from(Int32Array.from(f.expected.targets.flat()), shape, 'i32'),
        );
        backward(l);
        return l.item();
      });
      if (weightDtype === 'bf16')
        expect(
          [...f.model.params.values()].filter((p) => p.rank === 2).every((p) => p.dtype === 'bf16'),
        ).toBe(true);
      return { loss, g: lora.parameters().map((p) => p.grad!.toArray()) };
    };
    const a = grads('bf16');
    const b = grads('f32');
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
    // layer 0's adapters get their gradient through every bf16 weight above them
    a.g.forEach((g, i) => expectClose(g, b.g[i], 1e-4));
  });
});

describe('QLoRA on int4/int8 weights', () => {
  for (const bits of [4, 8] as const) {
    it(`W${bits}: dy · W from the codes equals the product with the dequantized matrix`, () => {
      scope(() => {
        const rng = new Rng(bits);
        const [out, K] = [70, 96]; // a partial 64-row panel and a partial 16-row tile
        const w = quantizeToQWeight(
          Float32Array.from({ length: out * K }, () => rng.normal()),
          out,
          K,
          bits,
        );
        const wf = Tensor.from(dequantizeQWeight(w), [out, K]);
        const x = Tensor.parameter(randn(rng, [2, 3, K]));
        const R = randn(rng, [2, 3, out]);
        backward(sum(mul(qlinears(x, [w])[0], R)));
        expectClose(x.grad!.toArray(), matmul(R, wf).toArray(), 1e-5);
      });
    });
  }

  (haveFixtures ? it : it.skip)(
    'adapter gradients through a W8 tiny-gqa follow those through its dequantized weights',
    () => {
      type E = { inputs: number[][]; targets: number[][] };
      const grads = (quantized: boolean) => {
        const f = loadFixture<E>('tiny-gqa');
        const weights = new Map<string, QWeight>();
        for (const [name, t] of [...f.model.params]) {
          const m = /^(.+_proj)\.weight$/.exec(name);
          if (!m || t.shape[1] % 32 !== 0) continue; // down_proj (in 240) stays in f32
          const w = quantizeToQWeight(t.data as Float32Array, t.shape[0], t.shape[1], 8);
          if (quantized) {
            weights.set(m[1], w);
            f.model.params.delete(name);
          } else (t.data as Float32Array).set(dequantizeQWeight(w));
        }
        if (quantized) f.model.linearRunner = new QuantizedLinears(weights, (m) => f.model.p(`${m}.weight`));
        const lora = initLora(
          f.model,
          { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], rslora: false },
          3,
        );
        const rng = new Rng(5);
        for (const { B } of lora.modules.values())
          (B.data as Float32Array).forEach((_, i, d) => (d[i] = 0.1 * rng.normal()));
        const shape = [f.expected.inputs.length, f.expected.inputs[0].length];
        scope(() =>
          backward(
            f.model.loss(
              Tensor.from(Int32Array.from(f.expected.inputs.flat()), shape, 'i32'),
              Tensor.from(Int32Array.from(f.expected.targets.flat()), shape, 'i32'),
            ),
          ),
        );
        return lora.parameters().map((p) => p.grad!.toArray());
      };
      const q = grads(true);
      const f = grads(false);
      // the quantized forward also rounds activations to int8 per 32: close, not equal
      q.forEach((g, i) => expectClose(g, f[i], 2e-2));
    },
  );
});
