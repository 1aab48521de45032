/**
 * Evaluating through our server equals evaluating in process, item by item: option log-likelihoods
 * (echo + logprobs) and seeded generations (completions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { EndpointBackend } from '../../src/eval/endpoint.js';
import { complete, GENERAL } from '../../src/eval/generation.js';
import { optionLogProbs } from '../../src/eval/likelihood.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import { Rng } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
const model = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(8));
const app = buildServer(new GenerationService(model, tok, 'tiny'), { apiKey: 'k', processMetrics: false });
let backend: EndpointBackend;
beforeAll(async () => {
  backend = new EndpointBackend(`${await app.listen({ host: '127.0.0.1', port: 0 })}/v1`, { apiKey: 'k' });
});
afterAll(() => app.close());

const items = [
  { q: 'Question: Which is a colour?\nAnswer:', options: [' red', ' table', ' seven', ' quickly'] },
  { q: 'The sea is', options: [' calm tonight.', ' a mountain of glass that sings', ' blue'] },
  { q: '床前明月光，', options: ['疑是地上霜。', '举头望明月'] },
];

describe('evaluation through an OpenAI-compatible endpoint', () => {
  it('option log-likelihoods equal the in-process scores', async () => {
    for (const item of items) {
      const prompt = [tok.bosId, ...tok.encode(item.q)];
      const options = item.options.map((o) => tok.encode(o));
      const local = optionLogProbs(model, prompt, options);
      const remote = await backend.optionLogProbs(prompt, options);
      remote.forEach((r, i) => {
        expect(r.tokens).toBe(local[i].tokens);
        expect(Math.abs(r.sum - local[i].sum)).toBeLessThan(1e-4);
      });
      const best = (s: { sum: number }[]) => s.reduce((b, x, i) => (x.sum > s[b].sum ? i : b), 0);
      expect(best(remote)).toBe(best(local));
    }
  });

  it('seeded generations equal the in-process completions, stop strings included', async () => {
    for (const [i, item] of items.entries()) {
      const prompt = [tok.bosId, ...tok.encode(item.q)];
      const s = { ...GENERAL, maxNewTokens: 16, stop: ['\n', 'Question:'], seed: i };
      expect(await backend.complete(prompt, s)).toBe(await complete(model, tok, prompt, s));
    }
  });

  it('a server that refuses says so', async () => {
    const wrong = new EndpointBackend(backend['url'].replace('/completions', ''), { apiKey: 'nope' });
    await expect(wrong.complete([1, 2], { ...GENERAL, stop: [], seed: 0 })).rejects.toThrow(/401/);
  });
});
