/**
 * perplexity() against independent computations on a fixture model: the NLL of the scored positions from
 * the engine's crossEntropy over each window (llama-perplexity's windows: BOS over the first token, the
 * second half scored), and KL divergence / top-1 agreement from one forward pass per scored prefix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { perplexity, perplexityPlan } from '../../src/eval/perplexity.js';
import { loadModel } from '../../src/models/load.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { crossEntropy, noGrad, reshape, Rng, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

// The native backend when built (the engine's inference path), else the reference one.
install(backendCases().find((c) => c.name === 'native')?.backend ?? backendCases()[0].backend);

const fixture = path.resolve(__dirname, '../../../shared/fixtures/minicpm/tiny-mha');
const has = fs.existsSync(fixture);
if (!has) console.warn(`[perplexity] SKIPPING: ${fixture} is absent`);

function stream(n: number, V: number, seed: number): number[] {
  const rng = new Rng(seed);
  return [1, ...Array.from({ length: n - 1 }, () => Math.floor(rng.uniform() * V))];
}

/** log-softmax of the last row of the model's logits for `ids`. */
function lastLogProbs(model: MiniCPM, ids: number[]): Float64Array {
  const V = model.config.vocabSize;
  const all = noGrad(() =>
    model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')),
  ).toArray();
  const row = all.slice((ids.length - 1) * V);
  const mx = Math.max(...row);
  const lz = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
  return Float64Array.from(row, (x) => x - lz);
}

describe.skipIf(!has)('perplexity (llama-perplexity protocol)', () => {
  it('equals exp of the mean NLL over the second half of each window, BOS over the first token', async () => {
    const model = await loadModel(fixture);
    const V = model.config.vocabSize;
    const ctx = 32;
    const toks = stream(3 * ctx + 11, V, 1); // the 11 trailing tokens are dropped
    const r = perplexity(model, toks, { ctx });
    const plan = perplexityPlan(toks.length, ctx);
    expect(plan).toEqual({ chunks: 3, first: 16, perChunk: 15 });
    expect(r.chunks).toBe(3);
    expect(r.tokens).toBe(45);
    // Independent: crossEntropy (mean over targets ≠ −100) of each window, targets only at 17..31.
    let sum = 0;
    const perToken: number[] = [];
    for (let c = 0; c < 3; c++) {
      const ids = toks.slice(c * ctx, (c + 1) * ctx);
      ids[0] = model.config.bosTokenId;
      const targets = ids.map((_, j) => (j >= 16 && j < ctx - 1 ? ids[j + 1] : -100));
      const logits = noGrad(() => model.forward(Tensor.from(Int32Array.from(ids), [1, ctx], 'i32')));
      const loss = noGrad(() =>
        crossEntropy(reshape(logits, [ctx, V]), Tensor.from(Int32Array.from(targets), [ctx], 'i32')),
      ).item();
      sum += loss * 15;
      for (let j = 16; j < ctx - 1; j++) perToken.push(-lastLogProbs(model, ids.slice(0, j + 1))[ids[j + 1]]);
    }
    expect(r.nll).toBeCloseTo(sum / 45, 5);
    expect(Math.abs(r.ppl / Math.exp(sum / 45) - 1)).toBeLessThan(1e-6); // f32 crossEntropy
    // The error is PPL · sample stderr of the per-token NLL.
    const mean = perToken.reduce((a, b) => a + b, 0) / 45;
    const sd = Math.sqrt(perToken.reduce((a, b) => a + (b - mean) ** 2, 0) / 44 / 45);
    expect(r.nllStderr).toBeCloseTo(sd, 5);
    expect(Math.abs(r.pplError / (r.ppl * sd) - 1)).toBeLessThan(1e-6);
    expect(r.kl).toBeUndefined();
  });

  it('KL of a model against itself is 0 with top-1 agreement 1; against a perturbed model it is the direct sum', async () => {
    const model = await loadModel(fixture);
    const V = model.config.vocabSize;
    const ctx = 16;
    const toks = stream(2 * ctx, V, 2);
    const self = perplexity(model, toks, { ctx, base: model });
    expect(self.kl!.mean).toBeLessThan(1e-12);
    expect(self.kl!.top1).toBe(1);
    expect(self.kl!.basePpl).toBe(self.ppl);

    const other = await loadModel(fixture);
    const rng = new Rng(9);
    for (const name of ['model.layers.0.mlp.down_proj.weight', 'model.embed_tokens.weight']) {
      const w = other.p(name).data as Float32Array;
      for (let i = 0; i < w.length; i++) w[i] += 0.05 * rng.normal();
    }
    const r = perplexity(other, toks, { ctx, base: model });
    const kls: number[] = [];
    let agree = 0;
    let baseNll = 0;
    for (let c = 0; c < 2; c++) {
      const ids = toks.slice(c * ctx, (c + 1) * ctx);
      ids[0] = 1;
      for (let j = 8; j < ctx - 1; j++) {
        const p = lastLogProbs(model, ids.slice(0, j + 1));
        const q = lastLogProbs(other, ids.slice(0, j + 1));
        kls.push(p.reduce((s, lp, i) => s + Math.exp(lp) * (lp - q[i]), 0));
        const am = (x: Float64Array) => x.indexOf(Math.max(...x));
        agree += am(p) === am(q) ? 1 : 0;
        baseNll -= p[ids[j + 1]];
      }
    }
    const n = kls.length;
    expect(r.tokens).toBe(n);
    const mean = kls.reduce((a, b) => a + b, 0) / n;
    expect(mean).toBeGreaterThan(1e-4);
    expect(r.kl!.mean).toBeCloseTo(mean, 6);
    const sd = Math.sqrt(kls.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
    expect(r.kl!.stderr).toBeCloseTo(sd, 6);
    expect(r.kl!.top1).toBeCloseTo(agree / n, 12);
    expect(r.kl!.basePpl).toBeCloseTo(Math.exp(baseNll / n), 4);
  });

  it('rejects a text shorter than one window, a window beyond the context, and a different vocabulary', async () => {
    const model = await loadModel(fixture);
    expect(() => perplexity(model, stream(20, 10, 3), { ctx: 32 })).toThrow(/at least 32/);
    expect(() => perplexity(model, stream(400, 10, 3), { ctx: 256 })).toThrow(
      /exceeds the model's context length/,
    );
    const gqa = await loadModel(path.join(fixture, '../tiny-gqa'));
    expect(() => perplexity(model, stream(64, 10, 3), { ctx: 32, base: gqa })).toThrow(/vocabulary/);
  });
});
