/**
 * Evaluating through our server equals evaluating in process, item by item: option log-likelihoods
 * (echo + logprobs) and seeded generations (completions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EndpointBackend } from '../../src/eval/endpoint.js';
import type { EvalModel } from '../../src/eval/endpoint-scoring.js';
import type { UeSubject } from '../../src/eval/ultraeval/records.js';
import { runUltraEvalTask } from '../../src/eval/ultraeval/runner.js';
import { UE_TASKS } from '../../src/eval/ultraeval/tasks.js';
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

  it('the UltraEval runner gives the same per-item results in process and through the server', async () => {
    const subjects: UeSubject[] = ['anatomy', 'virology'].map((subject) => ({
      subject,
      dropped: [],
      records: [0, 1, 2].map((index) => ({
        subject,
        index,
        question: `Question ${subject} ${index}: which colour?`,
        options: ['red', 'blue', 'green', 'white'],
        scores: [0, 1, 2, 3].map((i) => (i === index ? 1 : 0)),
        answer: '',
      })),
    }));
    const records = async (m: EvalModel, task: string, mode: 'gen' | 'ppl') => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-endpoint-')), 'r.jsonl');
      await runUltraEvalTask(m, tok, UE_TASKS[task], subjects, {
        mode,
        seed: 3,
        shots: 1,
        limit: 0,
        recordsFile: file,
      });
      return fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const r = JSON.parse(l) as { id: string; ppl?: { pick: number }; gen?: { correct: boolean } };
          return { id: r.id, pick: r.ppl?.pick, correct: r.gen?.correct };
        });
    };
    expect(await records(backend, 'arc-e', 'ppl')).toEqual(await records(model, 'arc-e', 'ppl'));
    expect(await records(backend, 'mmlu', 'gen')).toEqual(await records(model, 'mmlu', 'gen'));
  });
});
