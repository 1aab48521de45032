/**
 * The fused attention phase of a one-token decode step (native/src/decode-step.c through
 * KVCache.attendDecode) against its twin, the separate ops it replaces (rope of q and k, the cache's
 * append, attention), bit for bit: the output and every cached key and value, over bf16 and f32 caches,
 * on shapes that hit the remainder paths (grouped heads, head sizes of one and several 16-lane blocks,
 * Hq not a multiple of 16, key ranges below and past the 64-position split, a cache that grows while
 * decoding); the cases it declines (nothing written); a MiniCPM decode with and without the fused
 * kernel, and with its residual + next-norm chain against the unfused layers; argument checks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { useDecodeAttention } from '../../src/backends/cpu/native-nn.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { configFromHF } from '../../src/models/config.js';
import { KVCache } from '../../src/models/kv-cache.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { ropeTables } from '../../src/nn/rope-tables.js';
import {
  getBackend,
  noGrad,
  rope,
  Rng,
  scope,
  setBackend,
  Tensor,
  type Backend,
} from '../../src/tensor/index.js';

const backend = useBackend('auto');
const native = loadNativeKernels() as unknown as { features(): { isa: string } } | null;
const fusedHere = backend.decode !== undefined && native?.features().isa === 'avx512';
afterEach(() => {
  useDecodeAttention(true);
  setBackend(backend);
});

/** The installed backend without its fused decode kernels: the decoder then runs the separate ops. */
function unfused(): Backend {
  return Object.create(backend, { decode: { value: undefined } }) as Backend;
}

const rand = (rng: Rng, n: number): Float32Array =>
  Float32Array.from({ length: n }, () => (rng.uniform() - 0.5) * 2);

interface Case {
  dtype: 'bf16' | 'f32';
  Hq: number;
  Hkv: number;
  D: number;
  /** positions cached before the step */
  prefix: number;
  /** the caches' initial capacity (a step at it makes them grow) */
  capacity: number;
}

/** Two caches with the same random prefix, and the step's q, k, v [1, 1, H, D]. */
function setup(c: Case, seed: number) {
  const rng = new Rng(seed);
  const caches = [0, 1].map(() => new KVCache(1, 1, c.Hkv, c.D, c.capacity, c.dtype));
  const pk = rand(rng, c.prefix * c.Hkv * c.D);
  const pv = rand(rng, c.prefix * c.Hkv * c.D);
  for (const cache of caches) {
    if (c.prefix === 0) continue;
    scope(() =>
      cache.append(0, Tensor.from(pk, [1, c.prefix, c.Hkv, c.D]), Tensor.from(pv, [1, c.prefix, c.Hkv, c.D])),
    );
    cache.advance(c.prefix);
  }
  const step = {
    q: rand(rng, c.Hq * c.D),
    k: rand(rng, c.Hkv * c.D),
    v: rand(rng, c.Hkv * c.D),
  };
  return { caches, step };
}

/** The fused step and its twin (rope, then attend) on two equal caches: outputs and caches' contents. */
function both(c: Case, seed: number) {
  const { caches, step } = setup(c, seed);
  const { cos, sin } = ropeTables(
    { headDim: c.D, theta: 10000, maxPositionEmbeddings: 4096, scaling: null },
    c.prefix + 1,
    1,
  );
  const t = (a: Float32Array, H: number) => Tensor.from(a.slice(), [1, 1, H, c.D]);
  return noGrad(() =>
    scope(() => {
      const fused = caches[0].attendDecode(0, t(step.q, c.Hq), t(step.k, c.Hkv), t(step.v, c.Hkv), cos, sin);
      const q = rope(t(step.q, c.Hq), cos, sin, c.prefix);
      const k = rope(t(step.k, c.Hkv), cos, sin, c.prefix);
      const twin = caches[1].attend(0, q, k, t(step.v, c.Hkv), { causal: true, qOffset: c.prefix });
      const read = (cache: KVCache) => {
        cache.advance(1);
        const { k: kk, v: vv } = cache.read(0);
        return [Array.from(kk.toArray()), Array.from(vv.toArray())];
      };
      const res = {
        fused: fused ? Array.from(fused.toArray()) : null,
        twin: Array.from(twin.toArray()),
        fusedCache: fused ? read(caches[0]) : null,
        twinCache: read(caches[1]),
        firstCacheLength: caches[0].length,
      };
      caches.forEach((x) => x.dispose());
      cos.dispose();
      sin.dispose();
      return res;
    }),
  );
}

describe.runIf(fusedHere)('fused rope + KV append + decode attention', () => {
  const shapes = [
    { Hq: 4, Hkv: 4, D: 16, prefix: 0, capacity: 8 },
    { Hq: 4, Hkv: 2, D: 32, prefix: 5, capacity: 8 },
    { Hq: 36, Hkv: 36, D: 64, prefix: 63, capacity: 64 }, // the step makes the caches grow
    { Hq: 20, Hkv: 5, D: 48, prefix: 200, capacity: 256 }, // key ranges split over the pool
    { Hq: 8, Hkv: 1, D: 128, prefix: 130, capacity: 131 },
    { Hq: 6, Hkv: 3, D: 10, prefix: 9, capacity: 16 }, // f32 only: bf16 needs D a multiple of 16
  ];
  const cases: Case[] = (['bf16', 'f32'] as const).flatMap((dtype) =>
    shapes.filter((s) => dtype === 'f32' || s.D % 16 === 0).map((s) => ({ dtype, ...s })),
  );
  for (const c of cases)
    it(`${c.dtype} cache, Hq ${c.Hq}, Hkv ${c.Hkv}, D ${c.D}, ${c.prefix} cached: the separate ops' bits`, () => {
      const r = both(c, c.Hq * 1000 + c.prefix);
      expect(r.fused).not.toBeNull();
      expect(r.fused).toEqual(r.twin);
      expect(r.fusedCache).toEqual(r.twinCache);
    });

  it('declines over bf16, writing nothing, where the decode kernel does not apply', () => {
    // a head size that is not a multiple of 16
    let r = both({ dtype: 'bf16', Hq: 2, Hkv: 2, D: 8, prefix: 3, capacity: 8 }, 7);
    expect(r.fused).toBeNull();
    expect(r.firstCacheLength).toBe(3);
    // the portable attention chosen (tests and benches)
    useDecodeAttention(false);
    r = both({ dtype: 'bf16', Hq: 4, Hkv: 4, D: 16, prefix: 3, capacity: 8 }, 8);
    expect(r.fused).toBeNull();
  });

  it('declines for an int8 cache, a batch of two and two tokens', () => {
    const { cos, sin } = ropeTables(
      { headDim: 16, theta: 10000, maxPositionEmbeddings: 64, scaling: null },
      8,
      1,
    );
    noGrad(() =>
      scope(() => {
        const t = (B: number, T: number) => Tensor.zeros([B, T, 2, 16]);
        const i8 = new KVCache(1, 1, 2, 16, 8, 'int8');
        expect(i8.attendDecode(0, t(1, 1), t(1, 1), t(1, 1), cos, sin)).toBeNull();
        const b2 = new KVCache(1, 2, 2, 16, 8, 'bf16');
        expect(b2.attendDecode(0, t(2, 1), t(2, 1), t(2, 1), cos, sin)).toBeNull();
        const t2 = new KVCache(1, 1, 2, 16, 8, 'f32');
        expect(t2.attendDecode(0, t(1, 2), t(1, 2), t(1, 2), cos, sin)).toBeNull();
        [i8, b2, t2].forEach((x) => x.dispose());
      }),
    );
    cos.dispose();
    sin.dispose();
  });

  it('checks its arguments: tables too short for the position', () => {
    const dec = getBackend().decode!;
    noGrad(() =>
      scope(() => {
        const cache = Tensor.zeros([1, 8, 2, 16], 'bf16');
        const t = () => Tensor.zeros([1, 1, 2, 16]);
        const short = Tensor.zeros([2, 8]);
        expect(() => dec.ropeAppendAttend(t(), t(), t(), short, short, 5, cache, cache, 0.25)).toThrow(
          /decodeRopeAppendAttend: cos needs 48 elements/,
        );
      }),
    );
  });

  it.each(['bf16', 'f32'] as const)(
    'a MiniCPM decode over a %s cache: the same logits with and without the fused kernel',
    (dtype) => {
      const config = configFromHF({
        model_type: 'minicpm',
        vocab_size: 64,
        hidden_size: 64,
        intermediate_size: 96,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        scale_emb: 12,
        scale_depth: 1.4,
        dim_model_base: 32,
        initializer_range: 0.1,
      });
      const model = MiniCPM.init(config, new Rng(3));
      const run = (): number[][] =>
        noGrad(() => {
          const cache = new KVCache(2, 1, 2, 16, 4, dtype);
          const out: number[][] = [];
          let id = 5;
          for (let s = 0; s < 12; s++) {
            const row = scope(() =>
              Array.from(model.forward(Tensor.from(Int32Array.of(id), [1, 1], 'i32'), cache).toArray()),
            );
            out.push(row);
            id = row.indexOf(Math.max(...row));
          }
          cache.dispose();
          return out;
        });
      let calls = 0;
      const dec = backend.decode!;
      setBackend(
        Object.create(backend, {
          decode: {
            value: {
              ropeAppendAttend: (...a: Parameters<typeof dec.ropeAppendAttend>) => {
                calls++;
                return dec.ropeAppendAttend(...a);
              },
            },
          },
        }) as Backend,
      );
      const fused = run();
      expect(calls).toBe(2 * 12);
      setBackend(unfused());
      expect(fused).toEqual(run());
    },
  );

  it('a MiniCPM decode: one norm per step besides the fused residuals, the logits of the unfused layer chain', () => {
    const config = configFromHF({
      model_type: 'minicpm',
      vocab_size: 64,
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 128,
      scale_emb: 12,
      scale_depth: 1.4,
      dim_model_base: 32,
      initializer_range: 0.1,
    });
    const model = MiniCPM.init(config, new Rng(4));
    // inference (noGrad): each layer's last residual also gives the next layer's input norm (the
    // final norm after the last); with autograd on, every layer runs its own norms
    const run = (grad: boolean): number[][] => {
      const cache = new KVCache(3, 1, 2, 16, 4, 'f32');
      const out: number[][] = [];
      let id = 7;
      for (let s = 0; s < 6; s++) {
        const step = () =>
          scope(() =>
            Array.from(model.forward(Tensor.from(Int32Array.of(id), [1, 1], 'i32'), cache).toArray()),
          );
        const row = grad ? step() : noGrad(step);
        out.push(row);
        id = row.indexOf(Math.max(...row));
      }
      cache.dispose();
      return out;
    };
    let norms = 0;
    setBackend(
      Object.create(backend, {
        rmsNorm: {
          value: (...a: Parameters<Backend['rmsNorm']>) => {
            norms++;
            return backend.rmsNorm(...a);
          },
        },
      }) as Backend,
    );
    const chained = run(false);
    if (backend.residualNorm) expect(norms).toBe(6); // the first layer's input norm only
    setBackend(backend);
    expect(chained).toEqual(run(true));
  });
});
