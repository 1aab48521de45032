/** The official `openai` client against a listening server: requests, streaming and errors as clients see them. */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
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
const app = buildServer(
  new GenerationService(MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5)), tok, 'tiny'),
  { apiKey: 'test-key', processMetrics: false },
);
let client: OpenAI;
let baseURL: string;

beforeAll(async () => {
  baseURL = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1`;
  client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0 });
});
afterAll(() => app.close());

describe('openai client', () => {
  const messages = [{ role: 'user' as const, content: 'Name a colour.' }];

  it('lists the model and completes a chat', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['tiny']);
    const r = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 8,
      temperature: 0,
    });
    expect(r.choices[0].message.role).toBe('assistant');
    expect(typeof r.choices[0].message.content).toBe('string');
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('streams the same text the whole answer has', async () => {
    const whole = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 10,
      temperature: 0,
    });
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 10,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe(whole.choices[0].message.content);
  });

  it('surfaces a bad request as the client BadRequestError with its message', async () => {
    const err = await client.chat.completions
      .create({ model: 'tiny', messages, temperature: 9 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/temperature/);
  });

  it('legacy completions with echo and log-probs, as evaluation harnesses ask', async () => {
    const r = await client.completions.create({
      model: 'tiny',
      prompt: 'The sea',
      echo: true,
      logprobs: 2,
      max_tokens: 0,
    });
    const lp = r.choices[0].logprobs!;
    expect(lp.token_logprobs![0]).toBeNull();
    expect(lp.token_logprobs!.slice(1).every((x) => x <= 0)).toBe(true);
    expect(r.choices[0].text).toContain('sea');
  });

  it('chat log-probs, n choices, usage in the stream and JSON mode through the client', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 4,
      n: 2,
      seed: 3,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(r.choices[0].logprobs!.content![0].top_logprobs).toHaveLength(2);
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    const json = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 80,
      seed: 4,
      response_format: { type: 'json_object' },
    });
    if (json.choices[0].finish_reason === 'stop')
      expect(() => void JSON.parse(json.choices[0].message.content!)).not.toThrow();
  });

  it('a wrong API key is the client AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL, apiKey: 'nope', maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
