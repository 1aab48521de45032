/**
 * The trained-tower path of image SFT at test size: a fresh tower and resampler on rendered shapes
 * (captions), a few AdamW steps through imageSftObjective. At the demo's vision LR fractions the image
 * tokens keep differing between images and the gradient keeps reaching the tower's first layer; at the
 * language model's LR they collapse towards one vector for every image (the failure these fractions fix).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageBatch, imageSftExamples, readImageConversations } from '../../src/align/vlm-examples.js';
import { ImageStore, imageSftAdamW, imageSftObjective, imageSpread } from '../../src/align/vlm-train.js';
import { useBackend } from '../../src/backends/index.js';
import { VLM_DEMO_DEFAULTS } from '../../src/cli/vlm-demo-command.js';
import { writeVisionSet } from '../../src/data/vision/write-set.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { minicpmvConfigFromHF } from '../../src/models/minicpmv-config.js';
import { buildMiniCPMV, initVisionParams } from '../../src/models/minicpmv-init.js';
import { backward, noGrad, Rng, scope, Tensor, zeroGrad } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vlm-tower-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const tokDir = path.join(tmp, 'tokenizer');
writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 480 }), tokDir);
const tok = loadTokenizer(tokDir).tokenizer;
const set = await writeVisionSet(path.join(tmp, 'data'), {
  seed: 3,
  size: 16,
  trainImages: 8,
  valImages: 1,
  questionsPerImage: 1,
});
const conversations = readImageConversations(path.join(tmp, 'data', set.files.captionsTrain));

/** A fresh tiny MiniCPM-V: 1-layer 128-wide language model, 2-block 16-wide tower on 16² images. */
function buildVlm() {
  const config = minicpmvConfigFromHF({
    model_type: 'minicpmv',
    vocab_size: tok.vocabSize,
    hidden_size: 128,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    dim_model_base: 128,
    query_num: 4,
    image_size: 16,
    drop_vision_last_layer: false,
    vision_config: {
      hidden_size: 16,
      num_attention_heads: 2,
      intermediate_size: 32,
      num_hidden_layers: 2,
      patch_size: 8,
      image_size: 16,
    },
  });
  return buildMiniCPMV(config, MiniCPM.init(config.llm, new Rng(0)), initVisionParams(config, new Rng(1)));
}

/** A fresh tiny MiniCPM-V, `steps` AdamW steps on the 8 captions; spread and tower gradient per step. */
function train(steps: number, towerScale: number, resamplerScale: number) {
  const vlm = buildVlm();
  return (async () => {
    const r = imageSftExamples(tok, conversations, 4, 128);
    const store = await ImageStore.load(vlm, r.imagePaths, true);
    const batch = imageBatch(r.examples, tok.eosId);
    const objective = imageSftObjective(vlm, store);
    const opt = imageSftAdamW(vlm, {}, true, true, towerScale, resamplerScale);
    const patch = vlm.params.get('vpm.patch_embed.proj.weight')!;
    const out: { spread: number; towerGrad: number }[] = [];
    for (let s = 0; s < steps; s++) {
      const spread = scope(() => {
        const { loss, stats } = objective(vlm.llm, batch);
        backward(loss);
        return stats!.image_spread;
      });
      const g = patch.grad!.toArray();
      out.push({ spread, towerGrad: Math.sqrt(g.reduce((a, x) => a + x * x, 0)) });
      opt.update(VLM_DEMO_DEFAULTS.lr * Math.min(1, (s + 1) / 4));
      zeroGrad(opt.params());
    }
    const final = noGrad(() => scope(() => imageSpread(store.tokensOf(vlm, [0, 1, 2, 3, 4, 5, 6, 7]))));
    return { steps: out, final };
  })();
}

let slow: ReturnType<typeof train> | undefined;
const slowRun = () =>
  (slow ??= train(16, VLM_DEMO_DEFAULTS.visionLrScale, VLM_DEMO_DEFAULTS.resamplerLrScale));

describe('training a vision tower from scratch (image SFT)', () => {
  it('imageSpread is 0 for equal rows and the RMS ratio of the deviation otherwise', () => {
    expect(imageSpread(Tensor.from([1, 2, 3, 1, 2, 3], [2, 3]))).toBe(0);
    // rows ±1: mean 0, deviation RMS 1, RMS 1
    expect(imageSpread(Tensor.from([1, -1, -1, 1], [2, 2]))).toBeCloseTo(1, 12);
  });

  it('one batched tower and resampler call gives each image its one-image tokens', async () => {
    const vlm = buildVlm();
    const r = imageSftExamples(tok, conversations, 4, 128);
    const store = await ImageStore.load(vlm, r.imagePaths, true);
    noGrad(() =>
      scope(() => {
        const all = store.tokensOf(vlm, [3, 0, 5]).toArray();
        const one = [3, 0, 5].flatMap((i) => store.tokens(vlm, i).toArray());
        expect(all.length).toBe(one.length);
        expect(Math.max(...all.map((x, i) => Math.abs(x - one[i])))).toBeLessThan(1e-5);
      }),
    );
  });

  it("at the demo's vision LR the image tokens keep differing and the gradient reaches the tower", async () => {
    const { steps, final } = await slowRun();
    const first = steps[0].spread;
    expect(first).toBeGreaterThan(0.05);
    for (const s of steps) {
      expect(Number.isFinite(s.towerGrad)).toBe(true);
      expect(s.towerGrad).toBeGreaterThan(1e-2);
    }
    expect(final).toBeGreaterThan(0.5 * first);
  });

  it("at the language model's LR the same run collapses the image tokens and starves the tower", async () => {
    const slow = await slowRun();
    const fast = await train(16, 1, 1);
    expect(fast.steps[0].spread).toBe(slow.steps[0].spread);
    expect(fast.final).toBeLessThan(0.5 * slow.final);
    const least = (r: typeof fast) => Math.min(...r.steps.map((s) => s.towerGrad));
    expect(least(fast)).toBeLessThan(0.2 * least(slow));
  });
});
