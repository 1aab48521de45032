/**
 * An OpenAI-compatible HTTP API over one model: GET /v1/models, POST /v1/completions and
 * POST /v1/chat/completions, each streaming as server-sent events with `"stream": true`. Errors use
 * OpenAI's `{"error": {message, type, param, code}}` shape, so existing clients report them properly.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError } from './errors.js';
import type { Delta, GenerationService, Usage } from './generation-service.js';
import { parseChat, parseCompletion, type SamplingRequest } from './requests.js';

const now = () => Math.floor(Date.now() / 1000);

function usageOf(u: Usage) {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
  };
}

export function buildServer(service: GenerationService, opts: { logger?: boolean } = {}): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 16 << 20 });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err instanceof ApiError ? err.status : (err.statusCode ?? 500);
    const type = err instanceof ApiError ? err.type : status < 500 ? 'invalid_request_error' : 'server_error';
    if (err instanceof ApiError && err.retryAfter !== undefined)
      void reply.header('retry-after', String(err.retryAfter));
    void reply.status(status).send({
      error: {
        message:
          status === 500 && !(err instanceof ApiError) ? `internal error: ${err.message}` : err.message,
        type,
        param: err instanceof ApiError ? err.param : null,
        code: null,
      },
    });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: {
        message: `no route ${req.method} ${req.url}; try /v1/chat/completions`,
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  app.get('/v1/models', () => ({
    object: 'list',
    data: [{ id: service.modelName, object: 'model', created: now(), owned_by: 'minicpm' }],
  }));
  app.get('/health', () => ({ status: 'ok' }));

  /** One completion, answered whole or as server-sent events. */
  const respond = async (
    reply: FastifyReply,
    prompt: number[],
    r: SamplingRequest,
    kind: 'chat' | 'text',
  ): Promise<unknown> => {
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = now();
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const base = { id, created, model: service.modelName };
    if (!r.stream) {
      let text = '';
      let finish: Delta['finish'];
      const usage = await service.complete(prompt, r, (d) => {
        text += d.text;
        finish = d.finish ?? finish;
      });
      const choice =
        kind === 'chat'
          ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }
          : { index: 0, text, logprobs: null, finish_reason: finish };
      return { ...base, object, choices: [choice], usage: usageOf(usage) };
    }
    const abort = new AbortController();
    reply.raw.on('close', () => abort.abort());
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const send = (payload: unknown) => reply.raw.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    if (kind === 'chat')
      send({
        ...base,
        object: chunk,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      });
    try {
      const usage = await service.complete(
        prompt,
        r,
        (d) => {
          if (!d.text && !d.finish) return;
          const choice =
            kind === 'chat'
              ? { index: 0, delta: d.text ? { content: d.text } : {}, finish_reason: d.finish ?? null }
              : { index: 0, text: d.text, logprobs: null, finish_reason: d.finish ?? null };
          send({ ...base, object: chunk, choices: [choice] });
        },
        abort.signal,
      );
      send({ ...base, object: chunk, choices: [], usage: usageOf(usage) });
    } catch (e) {
      send({ error: { message: (e as Error).message, type: 'server_error', param: null, code: null } });
    }
    reply.raw.end('data: [DONE]\n\n');
    return reply;
  };

  app.post('/v1/completions', async (req, reply) => {
    const r = parseCompletion(req.body, service.contextLength);
    return respond(reply, service.completionPrompt(r.prompt), r, 'text');
  });
  app.post('/v1/chat/completions', async (req, reply) => {
    const r = parseChat(req.body, service.contextLength);
    return respond(reply, service.chatPrompt(r.messages), r, 'chat');
  });
  return app;
}
