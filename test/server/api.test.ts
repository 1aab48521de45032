/** The OpenAI-compatible API on a tiny model: shapes, greedy equality with the engine, streaming, stops, errors. */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { renderPrompt } from '../../src/align/chat-format.js';
import { generateAll } from '../../src/engine/generate.js';
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
const model = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5));
const service = new GenerationService(model, tok, 'tiny');
const app = buildServer(service);
const messages = [{ role: 'user' as const, content: 'Tell me about the sea.' }];

interface Choice {
  index: number;
  message?: { role: string; content: string };
  text?: string;
  delta?: { role?: string; content?: string };
  finish_reason: string | null;
}
interface Json {
  object: string;
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number };
  data: { id: string }[];
  error: { message: string; type: string; param: string | null };
}
const post = async (url: string, payload: unknown) => {
  const r = await app.inject({ method: 'POST', url, payload: payload as object });
  return {
    status: r.statusCode,
    json: String(r.headers['content-type']).includes('json') ? r.json<Json>() : null,
    body: r.body,
  };
};
/** The JSON payloads of a server-sent event stream, and whether it ended with [DONE]. */
const events = (body: string) => {
  const lines = body
    .split('\n\n')
    .filter(Boolean)
    .map((l) => l.replace(/^data: /, ''));
  return {
    done: lines[lines.length - 1] === '[DONE]',
    chunks: lines.filter((l) => l !== '[DONE]').map((l) => JSON.parse(l) as Json),
  };
};

describe('OpenAI-compatible API', () => {
  it('greedy chat completion equals the engine on the same prompt, with usage and finish reason', async () => {
    const { status, json } = await post('/v1/chat/completions', { messages, temperature: 0, max_tokens: 12 });
    expect(status).toBe(200);
    expect(json!.object).toBe('chat.completion');
    const prompt = renderPrompt(tok, service.format, messages);
    const [ids] = await generateAll(model, [prompt], {
      maxNewTokens: 12,
      greedy: true,
      stopIds: [tok.eosId],
    });
    const want = tok.decode(ids.filter((id) => id !== tok.eosId));
    expect(json!.choices[0].message).toEqual({ role: 'assistant', content: want });
    expect(json!.choices[0].finish_reason).toBe(ids.includes(tok.eosId) ? 'stop' : 'length');
    expect(json!.usage.prompt_tokens).toBe(prompt.length);
    expect(json!.usage.completion_tokens).toBe(ids.length);
  });

  it('streams the same text as server-sent events, ending with usage and [DONE]', async () => {
    const whole = await post('/v1/chat/completions', { messages, temperature: 0, max_tokens: 12 });
    const { status, body } = await post('/v1/chat/completions', {
      messages,
      temperature: 0,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(status).toBe(200);
    const { done, chunks } = events(body);
    expect(done).toBe(true);
    expect(chunks[0].choices[0].delta?.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe(whole.json!.choices[0].message?.content);
    expect(chunks.at(-1)!.usage.completion_tokens).toBe(whole.json!.usage.completion_tokens);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason).length).toBe(1);
  });

  it('text completions stop before a stop string, also when streaming', async () => {
    const free = await post('/v1/completions', { prompt: 'The sea', temperature: 0, max_tokens: 16 });
    const text = free.json!.choices[0].text as string;
    expect(free.json!.object).toBe('text_completion');
    const stop = text.slice(3, 5);
    expect(stop).toHaveLength(2); // the tiny model writes on for 16 tokens
    const cut = await post('/v1/completions', {
      prompt: 'The sea',
      temperature: 0,
      max_tokens: 16,
      stop: [stop],
    });
    expect(cut.json!.choices[0].text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.json!.choices[0].finish_reason).toBe('stop');
    const streamed = await post('/v1/completions', {
      prompt: 'The sea',
      temperature: 0,
      max_tokens: 16,
      stop,
      stream: true,
    });
    expect(
      events(streamed.body)
        .chunks.map((c) => c.choices[0]?.text ?? '')
        .join(''),
    ).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('seeded sampling repeats; models and health answer', async () => {
    const a = await post('/v1/completions', {
      prompt: 'Hello',
      temperature: 0.8,
      top_p: 0.9,
      seed: 7,
      max_tokens: 8,
    });
    const b = await post('/v1/completions', {
      prompt: 'Hello',
      temperature: 0.8,
      top_p: 0.9,
      seed: 7,
      max_tokens: 8,
    });
    expect(a.json!.choices[0].text).toBe(b.json!.choices[0].text);
    const models = await app.inject({ method: 'GET', url: '/v1/models' });
    expect(models.json<Json>().data[0].id).toBe('tiny');
  });

  it('bad requests get OpenAI-style errors naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages'],
      [{ messages, n: 17 }, 'n'],
      [{ messages, top_logprobs: 3 }, 'top_logprobs'],
      [{ messages, response_format: { type: 'json_schema' } }, 'response_format'],
      [{ messages, stream_options: { include_usage: true } }, 'stream_options'],
      [{ messages, presence_penalty: 3 }, 'presence_penalty'],
      [{ messages, temperature: 5 }, 'temperature'],
      [{ messages, max_tokens: 10 ** 9 }, 'max_tokens'],
      [{ messages, stop: [''] }, 'stop'],
      [{ messages: [{ role: 'assistant', content: 'x' }] }, 'messages'],
    ];
    for (const [payload, param] of cases) {
      const r = await post('/v1/chat/completions', payload);
      expect(r.status, JSON.stringify(payload)).toBe(400);
      expect(r.json!.error.param).toBe(param);
      expect(r.json!.error.type).toBe('invalid_request_error');
    }
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: '{oops',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<Json>().error.message).toBeTruthy();
    const missing = await app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json<Json>().error.type).toBe('invalid_request_error');
  });
});
