/**
 * An OpenAI-compatible HTTP API over one model: GET /v1/models, POST /v1/completions and
 * POST /v1/chat/completions (completions.ts), plus GET /health and GET /metrics (Prometheus). Errors
 * use OpenAI's `{"error": {message, type, param, code}}` shape, so existing clients report them
 * properly. With an API key every /v1 route needs `Authorization: Bearer KEY` (401 otherwise);
 * /health and /metrics stay open for probes and scrapers.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { chatCompletion, textCompletion, type CompletionContext } from './completions.js';
import { ApiError } from './errors.js';
import type { GenerationService } from './generation-service.js';
import type { ImageSupport } from './images.js';
import { ServerMetrics } from './metrics.js';
import { parseChat, parseCompletion, type RequestLimits } from './requests.js';

export interface ServerOptions {
  logger?: boolean;
  /** Bearer token required on /v1 routes. */
  apiKey?: string;
  /** Largest request body in bytes (default 16 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** Longest prompt in tokens (default: the model's context). */
  maxPromptTokens?: number;
  /** Largest max_tokens (default: the model's context). */
  maxTokens?: number;
  /** Process metrics (CPU, memory, event loop) on /metrics too (default true). */
  processMetrics?: boolean;
  /** MiniCPM-V: image parts in chat requests (images.ts). */
  images?: ImageSupport;
}

function sameKey(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function buildServer(service: GenerationService, opts: ServerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: opts.maxBodyBytes ?? 16 << 20 });
  const metrics = new ServerMetrics(service.scheduler, opts.processMetrics ?? true);
  const limits: RequestLimits = { maxContext: service.contextLength, maxTokens: opts.maxTokens };
  const ctx: CompletionContext = {
    service,
    metrics,
    maxPromptTokens: Math.min(opts.maxPromptTokens ?? service.contextLength, service.contextLength),
    images: opts.images,
  };

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err instanceof ApiError ? err.status : (err.statusCode ?? 500);
    const type = err instanceof ApiError ? err.type : status < 500 ? 'invalid_request_error' : 'server_error';
    if (err instanceof ApiError && err.retryAfter !== undefined)
      void reply.header('retry-after', String(err.retryAfter));
    const message =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `the request body is larger than this server's limit of ${opts.maxBodyBytes ?? 16 << 20} bytes`
        : status === 500 && !(err instanceof ApiError)
          ? `internal error: ${err.message}`
          : err.message;
    void reply.status(status).send({
      error: {
        message,
        type,
        param: err instanceof ApiError ? err.param : null,
        code: err instanceof ApiError && status === 401 ? 'invalid_api_key' : null,
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

  if (opts.apiKey) {
    const key = opts.apiKey;
    app.addHook('onRequest', (req, _reply, done) => {
      if (!req.url.startsWith('/v1/')) return done();
      const auth = req.headers.authorization ?? '';
      const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (sameKey(given, key)) return done();
      done(
        new ApiError(
          given ? 'incorrect API key' : 'this server needs an API key: send "Authorization: Bearer <key>"',
          401,
        ),
      );
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
  });

  app.get('/v1/models', () => ({
    object: 'list',
    data: [
      { id: service.modelName, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'minicpm' },
    ],
  }));
  app.get('/health', () => {
    const s = service.scheduler.stats();
    return { status: 'ok', slots: s.parallel, active: s.active, queued: s.queued };
  });
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/v1/completions', async (req, reply) => {
    const r = parseCompletion(req.body, limits);
    if (r.maxTokens > 0) service.checkCapacity(r.prompts.length * r.n);
    return textCompletion(ctx, reply, r);
  });
  app.post('/v1/chat/completions', async (req, reply) => {
    const r = parseChat(req.body, limits);
    service.checkCapacity(r.n);
    return chatCompletion(ctx, reply, r);
  });
  return app;
}
