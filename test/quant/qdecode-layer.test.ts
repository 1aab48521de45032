// A quantized model's decode step in one kernel call, embedding to logits, or its decoder layers in one
// call, all of them or one at a time (src/quant/qdecode-layer.ts, native/src/qdecode-layer.c), against
// the per-op decode step they replace:
// the same logits and the same KV cache, bit for bit, token after token, over bf16 and f32 caches, W4 (with
// and without act-order) and W8, an int8 or W4 head; the layers they must decline run per op; bad plans and
// calls get typed errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { nativeQuantKernels } from '../../src/backends/quant.js';
import { configFromHF } from '../../src/models/config.js';
import { KVCache, type KVCacheDtype } from '../../src/models/kv-cache.js';
import { MiniCPM, PROJ } from '../../src/models/minicpm.js';
import {
  loadAnyModel,
  quantizeModel,
  QuantizedLinears,
  quantizeToQWeight,
  saveQuantizedModel,
  useInt8Head,
  type QWeight,
} from '../../src/quant/index.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { tempDir } from '../io/helpers.js';

useBackend('auto');
const k = nativeQuantKernels();

const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 96,
  hidden_size: 64,
  intermediate_size: 160,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  scale_emb: 4,
  scale_depth: 1.4,
  dim_model_base: 32,
});
const isProjection = (name: string): boolean => PROJ.some((p) => name.endsWith(`${p}.weight`));

/** The model with every projection as `bits(name)`-bit rows (RTN per 32); null keeps it in f32. */
function quantized(bits: (name: string) => 2 | 4 | 8 | null, seed = 3): MiniCPM {
  const f = MiniCPM.init(config, new Rng(seed));
  const params = new Map([...f.params].filter(([n]) => !isProjection(n) || bits(n) === null));
  const weights = new Map<string, QWeight>();
  for (const [name, t] of f.params) {
    const b = isProjection(name) ? bits(name) : null;
    if (b === null) continue;
    const [out, K] = t.shape;
    weights.set(name.slice(0, -'.weight'.length), quantizeToQWeight(t.data as Float32Array, out, K, b));
  }
  const m = new MiniCPM(config, params);
  m.linearRunner = new QuantizedLinears(weights, (mod) => m.p(`${mod}.weight`));
  return m;
}

/** The same model whose runner has no fused layer: every decode step runs per op. */
function perOp(m: MiniCPM): MiniCPM {
  const r = m.linearRunner as QuantizedLinears;
  const twin = new MiniCPM(m.config, m.params);
  twin.linearRunner = { run: (x, mods) => r.run(x, mods), embed: (ids) => r.embed(ids) };
  return twin;
}

const prompt = [5, 17, 3, 88, 41, 9, 60, 2, 33, 71, 14, 50, 26, 7, 95, 1, 44];

/** Prefill of the first 5 tokens, then the rest one at a time: every step's logits, and the cache. */
function decode(m: MiniCPM, dtype: KVCacheDtype): { logits: number[][]; cache: KVCache } {
  const c = m.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, 8, dtype); // grows twice
  const ids = (s: number[]) => Tensor.from(Int32Array.from(s), [1, s.length], 'i32');
  const logits = noGrad(() => {
    const out = [m.forward(ids(prompt.slice(0, 5)), cache).toArray()];
    for (const t of prompt.slice(5)) out.push(m.forward(ids([t]), cache).toArray());
    return out;
  });
  return { logits, cache };
}

function expectSameCaches(a: KVCache, b: KVCache): void {
  expect(a.length).toBe(b.length);
  for (let l = 0; l < config.numLayers; l++) {
    const x = a.read(l);
    const y = b.read(l);
    expect(x.k.toArray()).toEqual(y.k.toArray());
    expect(x.v.toArray()).toEqual(y.v.toArray());
  }
}

/** The same model whose runner fuses layer by layer only (no whole-stack call). */
function layerByLayer(m: MiniCPM): MiniCPM {
  const r = m.linearRunner as QuantizedLinears;
  const twin = new MiniCPM(m.config, m.params);
  twin.linearRunner = {
    run: (x, mods) => r.run(x, mods),
    embed: (ids) => r.embed(ids),
    decodeLayer: (step) => r.decodeLayer(step),
  };
  return twin;
}

/** The same model whose runner fuses the layers (all in one call, or one by one) but not the whole token. */
function layersOnly(m: MiniCPM): MiniCPM {
  const r = m.linearRunner as QuantizedLinears;
  const twin = layerByLayer(m);
  twin.linearRunner!.decodeLayers = (step) => r.decodeLayers(step);
  return twin;
}

/**
 * Decodes with the fused token, the fused stack and the fused layer (each on its own, where the runner
 * has it) and per op: all agree bit for bit; `token` steps ran embedding to logits as one call, `stack`
 * steps every layer as one call, `layers` layer steps as one call each.
 */
function compare(
  m: MiniCPM,
  dtype: KVCacheDtype,
  fused: { token?: number; stack: number; layers: number },
): void {
  const runner = m.linearRunner as QuantizedLinears;
  const token = vi.spyOn(runner, 'decodeToken');
  const stack = vi.spyOn(runner, 'decodeLayers');
  const layer = vi.spyOn(runner, 'decodeLayer');
  const a = decode(m, dtype);
  const ran = (s: { mock: { results: { value: unknown }[] } }) =>
    s.mock.results.filter((r) => r.value !== null).length;
  expect({ token: ran(token), stack: ran(stack), layers: ran(layer) }).toEqual({ token: 0, ...fused });
  token.mockRestore();
  stack.mockRestore();
  layer.mockRestore();
  const b = decode(perOp(m), dtype);
  expect(a.logits).toEqual(b.logits);
  expectSameCaches(a.cache, b.cache);
  for (const twin of [layersOnly(m), layerByLayer(m)]) {
    const c = decode(twin, dtype);
    expect(c.logits).toEqual(b.logits);
    expectSameCaches(c.cache, b.cache);
  }
}

const steps = prompt.length - 5;

describe.skipIf(!k?.qdecodeLayers)('the fused quantized decode layers', () => {
  for (const dtype of ['bf16', 'f32'] as const)
    for (const bits of [2, 4, 8] as const)
      it(`W${bits}, ${dtype} cache: the per-op step's logits and cache, bit for bit, whole stack and layer by layer`, () => {
        compare(
          quantized(() => bits),
          dtype,
          { stack: steps, layers: 0 },
        );
      });

  it('with an int8 head and embedding (the decode benchmark configuration): the whole token in one call', () => {
    for (const dtype of ['bf16', 'f32'] as const) {
      const m = quantized(() => 4);
      useInt8Head(m);
      compare(m, dtype, { token: steps, stack: 0, layers: 0 });
    }
  });

  it('the whole token with a W4 head and a logit divisor of 1', () => {
    const m = quantized(() => 4);
    const mult = { ...m.config, dimModelBase: m.config.hiddenSize };
    const one = new MiniCPM(mult, m.params);
    one.linearRunner = m.linearRunner;
    const r = one.linearRunner as QuantizedLinears;
    const head = one.params.get('model.embed_tokens.weight')!;
    r.weights.set('lm_head', quantizeToQWeight(head.data as Float32Array, head.shape[0], head.shape[1], 4));
    compare(one, 'bf16', { token: steps, stack: 0, layers: 0 });
  });

  it('an act-order GPTQ folder (q/k/v share one column permutation) is fused too', async () => {
    const root = tempDir('minicpm-qdecode-');
    try {
      const seqs = [prompt, prompt.slice().reverse()];
      const dir = path.join(root, 'w4-act');
      await saveQuantizedModel(
        dir,
        quantizeModel(MiniCPM.init(config, new Rng(9)), seqs, { bits: 4, groupSize: 32, actOrder: true }),
      );
      const m = await loadAnyModel(dir);
      const perm = (m.linearRunner as QuantizedLinears).weights.get('model.layers.0.self_attn.q_proj')!.perm;
      expect(perm).not.toBeNull();
      compare(m, 'bf16', { stack: steps, layers: 0 });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('declines the layers it cannot fuse (a weight kept in f32, q/k/v of mixed bits) and an int8 cache', () => {
    // layer 0 keeps o_proj in f32, layer 1 has W8 q with W4 k/v: two calls for q/k/v; layer 2 fuses
    const m = quantized((n) =>
      n.includes('layers.0.self_attn.o_proj') ? null : n.includes('layers.1.self_attn.q_proj') ? 8 : 4,
    );
    compare(m, 'bf16', { stack: 0, layers: steps });
    compare(m, 'int8', { stack: 0, layers: 0 });
  });
});

describe.skipIf(!k?.qdecodeLayer)('qdecodeLayer and its plan refuse bad input', () => {
  const m = quantized(() => 4);
  const w = (m.linearRunner as QuantizedLinears).weights;
  const run = (...names: string[]) => {
    const ws = names.map((n) => w.get(`model.layers.0.${n}`)!);
    return [
      4,
      null,
      ws.map((x) => x.codes),
      ws.map((x) => x.scales),
      ws.map((x) => x.zeros),
      ws.map((x) => x.out),
    ] as [number, null, Uint8Array[], Uint16Array[], Uint8Array[], number[]];
  };
  const c = config;
  const gain = new Float32Array(c.hiddenSize).fill(1);
  const plan = (down = run('mlp.down_proj'), kvHeads = c.numKvHeads) =>
    k!.qdecodeLayerPlan!(
      run('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'),
      run('self_attn.o_proj'),
      run('mlp.gate_proj', 'mlp.up_proj'),
      down,
      gain,
      0,
      c.hiddenSize,
      c.intermediateSize,
      c.numHeads,
      kvHeads,
      c.headDim,
      1e-5,
      1,
      0.25,
    );

  it('a plan whose runs do not make the layer its sizes describe', () => {
    // k and v have 2 heads' rows, not 4
    expect(() => plan(undefined, c.numKvHeads * 2)).toThrow(RangeError);
    expect(() => plan(undefined, c.numKvHeads * 2)).toThrow(/qdecodeLayerPlan: .*do not make a layer/);
    // down over d inputs instead of ff: its weights are too small for the columns it claims
    expect(() => plan(run('self_attn.o_proj'))).toThrow(/qdecodeLayerPlan: weight 0 is too small/);
  });

  const d = c.hiddenSize;
  const cap = 4;
  const kv = new Uint16Array(cap * c.numKvHeads * c.headDim);
  const cs = new Float32Array(cap * (c.headDim / 2)).fill(1);
  const sn = new Float32Array(cap * (c.headDim / 2));
  const x = new Float32Array(d).fill(0.5);

  it('a call with a foreign plan, a short cache, or outputs over its inputs', () => {
    const p = plan();
    const scratch = new Float32Array(k!.qdecodeLayerScratch!(p));
    const call = (plan: object, pos: number, sum: Float32Array, sumOff = 0) =>
      k!.qdecodeLayer!(
        plan,
        x,
        0,
        x,
        0,
        gain,
        0,
        pos,
        kv,
        0,
        kv.slice(),
        0,
        cs,
        0,
        sn,
        0,
        sum,
        sumOff,
        new Float32Array(d),
        0,
        scratch,
        0,
      );
    expect(call(p, 0, new Float32Array(d))).toBe(true);
    expect(() => call({}, 0, new Float32Array(d))).toThrow(
      /qdecodeLayer: plan must come from qdecodeLayerPlan/,
    );
    expect(() => call(p, cap, new Float32Array(d))).toThrow(/qdecodeLayer: kCache needs \d+ elements/);
    expect(() => call(p, 0, x)).toThrow(/qdecodeLayer: sum and norm must not overlap x, xn or scratch/);
  });

  it('qdecodeLayers checks its plans, its per-layer lists and every cache', () => {
    const p = plan();
    const scratch = new Float32Array(k!.qdecodeLayersScratch!([p, p]));
    const call = (plans: object[], gains: Float32Array[], kcs: Uint16Array[]) =>
      k!.qdecodeLayers!(
        plans,
        x,
        0,
        x,
        0,
        gains,
        0,
        kcs,
        kcs,
        cs,
        0,
        sn,
        0,
        new Float32Array(d),
        0,
        new Float32Array(d),
        0,
        scratch,
        0,
      );
    expect(call([p, p], [gain, gain], [kv, kv.slice()])).toBe(true);
    expect(() => call([], [], [])).toThrow(/qdecodeLayers: plans must be an array of 1 to 512 plans/);
    expect(() => call([p, {}], [gain, gain], [kv, kv])).toThrow(/plan must come from qdecodeLayerPlan/);
    expect(() => call([p, p], [gain], [kv, kv])).toThrow(/qdecodeLayers: nextGains must be an array of 2/);
    expect(() => call([p, p], [gain, gain], [kv, kv.subarray(0, 4)])).toThrow(
      /qdecodeLayers: kCaches\[1\] holds 4 elements/,
    );
  });

  it('qdecodeToken checks its head against the width, and its logits', () => {
    const p = plan();
    const scratch = new Float32Array(k!.qdecodeTokenScratch!([p]));
    const V = c.vocabSize;
    const head = (K: number) => {
      const q = quantizeToQWeight(new Float32Array(V * K).fill(0.25), V, K, 8);
      return [8, null, [q.codes], [q.scales], [q.zeros], [V]] as [
        number,
        null,
        Uint8Array[],
        Uint16Array[],
        Uint8Array[],
        number[],
      ];
    };
    const call = (h: ReturnType<typeof head>, logits: Float32Array, xs = x) =>
      k!.qdecodeToken!(
        [p],
        xs,
        0,
        gain,
        0,
        [gain],
        0,
        [kv],
        [kv.slice()],
        cs,
        0,
        sn,
        0,
        0.5,
        h,
        logits,
        0,
        scratch,
        0,
      );
    const logits = new Float32Array(V);
    expect(call(head(d), logits)).toBe(true);
    // every input is 0.5 and every head row 0.25: the logits are finite and all equal
    expect(Number.isFinite(logits[0]) && logits.every((v) => v === logits[0])).toBe(true);
    // rows over half the width are too few bytes for the d columns the head is read over
    expect(() => call(head(d / 2), logits)).toThrow(
      /qdecodeToken: weight 0 is too small for 96 rows × 64 columns/,
    );
    expect(() => call(head(d), new Float32Array(V - 1))).toThrow(/qdecodeToken: logits needs \d+ elements/);
    expect(() => call(head(d), scratch)).toThrow(/qdecodeToken: logits, x and scratch must not overlap/);
  });
});
