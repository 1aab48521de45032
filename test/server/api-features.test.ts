/**
 * The OpenAI API beyond plain completions: echo with prompt log-probs (against a full forward pass),
 * max_tokens 0, token log-probs with top alternatives, n choices, batched prompts, include_usage, JSON
 * mode, API keys, limits, 503 with Retry-After, /metrics and /health.
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import { noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
const model = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5));
const service = new GenerationService(model, tok, 'tiny');
const app = buildServer(service, { processMetrics: false });

interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
}
interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number }[];
}
interface Choice {
  index: number;
  text: string;
  message: { content: string };
  finish_reason: string | null;
  logprobs: LegacyLogprobs & { content: ChatTokenLogprob[] };
}
interface Json {
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number };
  error: { code: string | null; param: string | null; message: string };
}
const post = async (url: string, payload: unknown, headers: Record<string, string> = {}) => {
  const r = await app.inject({ method: 'POST', url, payload: payload as object, headers });
  return { status: r.statusCode, json: r.json<Json>(), headers: r.headers };
};
const events = (body: string) =>
  body
    .split('\n\n')
    .filter((l) => l && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.replace(/^data: /, '')) as Json);

/** log softmax of every position of a full forward pass, float64. */
function referenceLogprobs(ids: number[]): number[][] {
  const logits = noGrad(() =>
    model.forward(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32')),
  ).toArray();
  const V = model.config.vocabSize;
  return ids.map((_, t) => {
    const row = logits.slice(t * V, (t + 1) * V);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    return row.map((x) => x - lse);
  });
}

describe('completions for evaluation harnesses', () => {
  it('echo + logprobs + max_tokens 0 give every prompt token its log-prob (the first none)', async () => {
    const prompt = 'The sea is calm tonight';
    const { status, json } = await post('/v1/completions', {
      prompt,
      echo: true,
      logprobs: 3,
      max_tokens: 0,
    });
    expect(status).toBe(200);
    const ids = service.completionPrompt(prompt);
    const lp = json.choices[0].logprobs;
    expect(json.choices[0].text).toBe(tok.decode(ids));
    expect(lp.token_logprobs).toHaveLength(ids.length);
    expect(lp.token_logprobs[0]).toBeNull();
    const ref = referenceLogprobs(ids);
    for (let t = 1; t < ids.length; t++) {
      expect(Math.abs(lp.token_logprobs[t]! - ref[t - 1][ids[t]])).toBeLessThan(1e-4);
      const tops = Object.values(lp.top_logprobs[t]!);
      const best = [...ref[t - 1]].sort((a, b) => b - a);
      expect(Math.abs(Math.max(...tops) - best[0])).toBeLessThan(1e-4);
    }
    expect(json.usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 0 });
  });

  it('token-id prompts and batches: choices numbered prompt by prompt', async () => {
    const a = service.completionPrompt('Hello');
    const { json } = await post('/v1/completions', {
      prompt: [a, 'Hello'],
      max_tokens: 4,
      temperature: 0,
      n: 2,
    });
    expect(json.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const texts = json.choices.map((c) => c.text);
    expect(new Set(texts).size).toBe(1); // same prompt, greedy: the same text four times
    expect(json.usage.prompt_tokens).toBe(2 * a.length);
  });

  it('generated-token log-probs: the greedy token is the top alternative', async () => {
    const { json } = await post('/v1/completions', {
      prompt: 'Once',
      max_tokens: 5,
      temperature: 0,
      logprobs: 2,
    });
    const lp = json.choices[0].logprobs;
    expect(lp.tokens.length).toBeGreaterThan(0);
    lp.tokens.forEach((t, i) => {
      const top = lp.top_logprobs[i]!;
      expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs[i]!, 6);
      expect(Object.keys(top)).toContain(t);
    });
  });
});

describe('chat features', () => {
  const messages = [{ role: 'user', content: 'Name a colour.' }];

  it('logprobs with top_logprobs in the chat shape', async () => {
    const { json } = await post('/v1/chat/completions', {
      messages,
      max_tokens: 4,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = json.choices[0].logprobs.content;
    expect(content.length).toBeGreaterThan(0);
    for (const c of content) {
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.top_logprobs[0].logprob).toBeCloseTo(c.logprob, 6);
      expect(c.bytes).toEqual([...Buffer.from(c.token, 'utf8')]);
    }
  });

  it('n choices: choice i equals a single request seeded seed + i', async () => {
    const body = { messages, max_tokens: 8, temperature: 1, seed: 40 };
    const { json } = await post('/v1/chat/completions', { ...body, n: 3 });
    expect(json.choices).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const one = await post('/v1/chat/completions', { ...body, seed: 40 + i });
      expect(json.choices[i].message.content).toBe(one.json.choices[0].message.content);
    }
  });

  it('streams n choices with their indices and a usage chunk when asked', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: {
        messages,
        max_tokens: 5,
        temperature: 0.8,
        seed: 1,
        n: 2,
        stream: true,
        stream_options: { include_usage: true },
      },
    });
    const chunks = events(r.body);
    const indices = new Set(chunks.flatMap((c) => c.choices.map((x) => x.index)));
    expect(indices).toEqual(new Set([0, 1]));
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
    const plain = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { messages, max_tokens: 3, stream: true },
    });
    expect(events(plain.body).some((c) => c.usage)).toBe(false);
  });

  it('JSON mode always answers a JSON object, even from an untrained model', async () => {
    for (const seed of [1, 2, 3]) {
      const { json } = await post('/v1/chat/completions', {
        messages,
        max_tokens: 60,
        temperature: 1,
        seed,
        response_format: { type: 'json_object' },
      });
      const text = json.choices[0].message.content;
      if (json.choices[0].finish_reason === 'stop') {
        const parsed: unknown = JSON.parse(text);
        expect(typeof parsed).toBe('object');
        expect(Array.isArray(parsed)).toBe(false);
      } else expect(text.trimStart().startsWith('{')).toBe(true); // cut by max_tokens
    }
  });
});

describe('operations', () => {
  it('an API key is required on /v1 routes (401), not on /health', async () => {
    const locked = buildServer(service, { apiKey: 'sekrit', processMetrics: false });
    const body = { prompt: 'Hi', max_tokens: 1 };
    const no = await locked.inject({ method: 'POST', url: '/v1/completions', payload: body });
    expect(no.statusCode).toBe(401);
    expect(no.json<Json>().error.code).toBe('invalid_api_key');
    const wrong = await locked.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: body,
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    const ok = await locked.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: body,
      headers: { authorization: 'Bearer sekrit' },
    });
    expect(ok.statusCode).toBe(200);
    expect((await locked.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('limits: prompt length and max_tokens give 400s naming the field; a large body 413', async () => {
    const strict = buildServer(service, {
      maxPromptTokens: 5,
      maxTokens: 8,
      maxBodyBytes: 2000,
      processMetrics: false,
    });
    const long = await strict.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { prompt: 'one two three four five six seven' },
    });
    expect(long.statusCode).toBe(400);
    expect(long.json<Json>().error.param).toBe('prompt');
    const many = await strict.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { prompt: 'Hi', max_tokens: 9 },
    });
    expect(many.statusCode).toBe(400);
    expect(many.json<Json>().error.param).toBe('max_tokens');
    const big = await strict.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { prompt: 'x'.repeat(5000) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json<Json>().error.message).toMatch(/2000 bytes/);
  });

  it('a full server answers 503 with Retry-After', async () => {
    const busy = new GenerationService(model, tok, 'tiny', { parallel: 1, maxQueue: 0 });
    const server = buildServer(busy, { processMetrics: false });
    const long = server.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { prompt: 'Hi', max_tokens: 40, temperature: 0 },
    });
    await new Promise((r) => setImmediate(r));
    const refused = await server.inject({
      method: 'POST',
      url: '/v1/completions',
      payload: { prompt: 'Hi', max_tokens: 2 },
    });
    expect(refused.statusCode).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await long).statusCode).toBe(200);
  });

  it('/metrics speaks Prometheus and counts requests and tokens; /health reports slots', async () => {
    await post('/v1/completions', { prompt: 'Hi', max_tokens: 3, temperature: 0 });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/text\/plain/);
    for (const name of [
      'minicpm_requests_total{route="/v1/completions",status="200"}',
      'minicpm_generated_tokens_total',
      'minicpm_time_to_first_token_seconds_bucket',
      'minicpm_queue_depth 0',
      'minicpm_slots_in_use 0',
      'minicpm_slots 4',
    ])
      expect(m.body).toContain(name);
    const h = await app.inject({ method: 'GET', url: '/health' });
    expect(h.json<{ status: string }>()).toMatchObject({ status: 'ok', slots: 4, active: 0 });
  });
});
