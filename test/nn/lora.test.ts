import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { LoraAdapters, LoraError, loraScaling, parseLoraSpec, type LoraConfig } from '../../src/nn/lora.js';
import { linear, noGrad, Rng, scope, Tensor } from '../../src/tensor/index.js';
import { gradCheck, randomF64 } from '../helpers/gradcheck.js';

const cfg = (o: Partial<LoraConfig> = {}): LoraConfig => ({
  r: 4,
  alpha: 8,
  dropout: 0,
  targets: ['q_proj', 'down_proj'],
  rslora: false,
  ...o,
});

describe('--lora spec', () => {
  it('parses every key, targets as a comma list, and the rslora switch', () => {
    expect(
      parseLoraSpec(
        'r=16,alpha=32,dropout=0.05,targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj',
      ),
    ).toEqual({
      r: 16,
      alpha: 32,
      dropout: 0.05,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      rslora: false,
    });
    expect(parseLoraSpec('targets=q_proj,v_proj,r=8,rslora')).toMatchObject({
      r: 8,
      targets: ['q_proj', 'v_proj'],
      rslora: true,
    });
  });

  it('names what to fix: unknown module, key, non-number, bad rank or dropout', () => {
    expect(() => parseLoraSpec('r=4,targets=q_proj,qkv_proj')).toThrow(LoraError);
    expect(() => parseLoraSpec('r=4,targets=q_proj,qkv_proj')).toThrow(
      /qkv_proj do not exist.*choose from q_proj/,
    );
    expect(() => parseLoraSpec('rank=4')).toThrow(/unknown key "rank"/);
    expect(() => parseLoraSpec('r=four')).toThrow(/r=four is not a number/);
    expect(() => parseLoraSpec('r=0')).toThrow(/integer ≥ 1/);
    expect(() => parseLoraSpec('r=2.5')).toThrow(/integer ≥ 1/);
    expect(() => parseLoraSpec('dropout=1')).toThrow(/\[0, 1\)/);
    expect(() => parseLoraSpec('alpha=-1')).toThrow(/positive/);
  });

  it('scales by alpha/r, or alpha/√r with rsLoRA', () => {
    expect(loraScaling(cfg({ r: 16, alpha: 32 }))).toBe(2);
    expect(loraScaling(cfg({ r: 16, alpha: 32, rslora: true }))).toBe(8);
  });
});

const shapes = new Map<string, number[]>([
  ['model.layers.0.self_attn.q_proj', [12, 10]],
  ['model.layers.0.self_attn.k_proj', [6, 10]],
  ['model.layers.0.mlp.down_proj', [10, 20]],
]);

describe('LoraAdapters', () => {
  it('initialises as PEFT: A ~ U(±1/√in) (kaiming_uniform a=√5), B = 0, only the targeted modules', () => {
    const a = LoraAdapters.init(cfg({ r: 64 }), shapes, new Rng(1));
    expect([...a.modules.keys()]).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    const down = a.modules.get('model.layers.0.mlp.down_proj')!;
    expect(down.A.shape).toEqual([64, 20]);
    expect(down.B.shape).toEqual([10, 64]);
    const A = down.A.toArray();
    const bound = 1 / Math.sqrt(20);
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
    // the uniform's variance bound²/3, within sampling error over 1280 draws
    const variance = A.reduce((s, v) => s + v * v, 0) / A.length;
    expect(variance).toBeCloseTo(bound ** 2 / 3, 2);
    expect(down.B.toArray().every((v) => v === 0)).toBe(true);
    expect(a.parameters()).toHaveLength(4);
    expect(a.parameters().every((p) => p.requiresGrad)).toBe(true);
  });

  it('refuses targets that match no linear', () => {
    expect(() => LoraAdapters.init(cfg({ targets: ['up_proj'] }), shapes, new Rng(1))).toThrow(
      /no linear layer matches/,
    );
  });

  it('adds s·B·A·x to the base output (and nothing while B = 0)', () => {
    scope(() => {
      const rng = new Rng(2);
      const a = LoraAdapters.init(cfg(), shapes, rng);
      const m = 'model.layers.0.self_attn.q_proj';
      const x = Tensor.from(
        Float32Array.from({ length: 30 }, () => rng.normal()),
        [3, 10],
      );
      const W = Tensor.from(
        Float32Array.from({ length: 120 }, () => rng.normal()),
        [12, 10],
      );
      const y = linear(x, W);
      expect(a.apply(m, x, y).toArray()).toEqual(y.toArray());
      const B = a.modules.get(m)!.B;
      (B.data as Float32Array).forEach((_, i, d) => (d[i] = rng.normal()));
      const got = noGrad(() => a.apply(m, x, y)).toArray();
      const A = a.modules.get(m)!.A.toArray();
      const b = B.toArray();
      const xs = x.toArray();
      const ys = y.toArray();
      for (let i = 0; i < 3; i++)
        for (let o = 0; o < 12; o++) {
          let acc = 0;
          for (let k = 0; k < 4; k++) {
            let ax = 0;
            for (let j = 0; j < 10; j++) ax += A[k * 10 + j] * xs[i * 10 + j];
            acc += b[o * 4 + k] * ax;
          }
          expect(got[i * 12 + o]).toBeCloseTo(ys[i * 12 + o] + 2 * acc, 4);
        }
      // a module without an adapter passes through untouched
      expect(a.apply('model.layers.0.self_attn.k_proj', x, y)).toBe(y);
    });
  });

  it('gradients of x, A and B match finite differences (f64)', () => {
    const rng = new Rng(3);
    const a = LoraAdapters.init(cfg(), shapes, rng, 'f64');
    const m = 'model.layers.0.mlp.down_proj';
    const W = randomF64(rng, [10, 20]);
    const { maxError, worst } = gradCheck(
      ([x, A, B]) => {
        const pair = a.modules.get(m)!;
        const saved = { ...pair };
        pair.A = A;
        pair.B = B;
        const out = a.apply(m, x, linear(x, W));
        Object.assign(pair, saved);
        return out;
      },
      [randomF64(rng, [2, 3, 20]), randomF64(rng, [4, 20]), randomF64(rng, [10, 4])],
    );
    expect(maxError, worst).toBeLessThan(1e-6);
  });

  it('dropout: inverted, only while recording gradients, reproducible from the RNG state', () => {
    scope(() => {
      const a = LoraAdapters.init(cfg({ dropout: 0.5 }), shapes, new Rng(4));
      const m = 'model.layers.0.self_attn.q_proj';
      (a.modules.get(m)!.B.data as Float32Array).fill(0.1);
      const x = Tensor.ones([64, 10]);
      const y = Tensor.zeros([64, 12]);
      const evalOut = noGrad(() => a.apply(m, x, y)).toArray();
      expect(noGrad(() => a.apply(m, x, y)).toArray()).toEqual(evalOut);
      const state = a.rng.getState();
      const t1 = a.apply(m, x, y).toArray();
      expect(t1).not.toEqual(evalOut);
      a.rng.setState(state);
      expect(a.apply(m, x, y).toArray()).toEqual(t1);
      // each mask element is 0 or 2 (kept and scaled by 1/(1 − p)); check through A = 1, B = 1 on one row
      const b = LoraAdapters.init(cfg({ r: 1, alpha: 1, dropout: 0.5 }), shapes, new Rng(5));
      (b.modules.get(m)!.A.data as Float32Array).fill(1);
      (b.modules.get(m)!.B.data as Float32Array).fill(1);
      const outs = b.apply(m, Tensor.ones([4000, 10]), Tensor.zeros([4000, 12])).toArray();
      const rows = Array.from({ length: 4000 }, (_, i) => outs[i * 12]);
      expect(
        rows.every(
          (v) => Number.isInteger(Math.round(v)) && Math.abs(v - Math.round(v)) < 1e-5 && v % 2 === 0,
        ),
      ).toBe(true);
      const mean = rows.reduce((s, v) => s + v, 0) / rows.length;
      expect(mean).toBeGreaterThan(9.5);
      expect(mean).toBeLessThan(10.5);
    });
  });
});
