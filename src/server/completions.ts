/**
 * The two completion endpoints' answers: whole or as server-sent events; n choices per prompt (each
 * its own sequence in the scheduler, seeds seed, seed+1, …); a batch of prompts for /v1/completions;
 * `echo` with prompt log-probs and `max_tokens: 0` (lm-evaluation-harness's loglikelihood); token
 * log-probs with top alternatives in the legacy (text) and chat shapes; JSON mode; usage, also as the
 * last streamed chunk with stream_options.include_usage.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { promptLogprobs, tokenLogprob, type TokenLogprob } from '../engine/logprobs.js';
import { ApiError } from './errors.js';
import type { Delta, GenerationService, Usage } from './generation-service.js';
import { chatImages, type ImageSupport } from './images.js';
import type { PromptImage } from '../models/minicpmv-splice.js';
import { JsonConstraint, schemaText } from './json-constraint.js';
import type { ServerMetrics } from './metrics.js';
import type { ChatRequest, CompletionRequest, Prompt, SamplingRequest } from './requests.js';

const now = () => Math.floor(Date.now() / 1000);

export interface CompletionContext {
  service: GenerationService;
  metrics: ServerMetrics | null;
  /** Longest prompt accepted, in tokens. */
  maxPromptTokens: number;
  /** MiniCPM-V: image parts in chat requests (absent: a text model, images refused). */
  images?: ImageSupport;
}

interface Choice {
  index: number;
  text: string;
  finish: Delta['finish'];
  usage: Usage;
  tokens: TokenLogprob[];
}

function usageOf(prompt: number, completion: number, cached = 0) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    ...(cached ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
  };
}

/** Server-sent events on the raw response; `closed` aborts when the client goes away. */
function openStream(reply: FastifyReply) {
  const abort = new AbortController();
  reply.raw.on('close', () => abort.abort());
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  return {
    signal: abort.signal,
    send: (payload: unknown) =>
      void (!abort.signal.aborted && reply.raw.write(`data: ${JSON.stringify(payload)}\n\n`)),
    end: () => reply.raw.end('data: [DONE]\n\n'),
  };
}

/** Runs one choice; `onDelta` sees text deltas with the log-probs of the tokens behind them. */
async function runChoice(
  ctx: CompletionContext,
  prompt: number[],
  r: SamplingRequest,
  index: number,
  top: number | null,
  onDelta: (d: Delta, tokens: TokenLogprob[]) => void,
  signal?: AbortSignal,
  images?: readonly PromptImage[],
): Promise<Choice> {
  const { service } = ctx;
  const timing = ctx.metrics?.completion(prompt.length);
  const tokens: TokenLogprob[] = [];
  let pending: TokenLogprob[] = [];
  let text = '';
  let finish: Delta['finish'];
  const eos = service.tok.eosId;
  const usage = await service
    .complete(
      prompt,
      r,
      (d) => {
        text += d.text;
        finish = d.finish ?? finish;
        onDelta(d, pending);
        pending = [];
      },
      signal,
      {
        index,
        images,
        constraint: !r.json
          ? undefined
          : r.jsonSchema
            ? new JsonConstraint(service.tokenTexts, eos, schemaText(r.jsonSchema))
            : new JsonConstraint(service.tokenTexts, eos),
        onToken: (id, logits) => {
          timing?.token();
          if (top === null || id === eos) return;
          const lp = tokenLogprob(logits, id, top);
          tokens.push(lp);
          pending.push(lp);
        },
      },
    )
    .finally(() => timing?.end());
  return { index, text, finish, usage, tokens };
}

function promptIds(ctx: CompletionContext, p: Prompt): number[] {
  const ids = typeof p === 'string' ? ctx.service.completionPrompt(p) : p;
  const V = ctx.service.model.config.vocabSize;
  if (ids.some((id) => id >= V)) throw new ApiError(`prompt token ids must be below ${V}`, 400, 'prompt');
  if (ids.length === 0) throw new ApiError('the prompt is empty', 400, 'prompt');
  if (ids.length > ctx.maxPromptTokens)
    throw new ApiError(
      `the prompt has ${ids.length} tokens; this server accepts at most ${ctx.maxPromptTokens}`,
      400,
      'prompt',
    );
  return ids;
}

/** The legacy (text completion) log-probs object of `tokens`, text offsets starting at `offset`. */
function legacyLogprobs(
  ctx: CompletionContext,
  tokens: (TokenLogprob | { id: number; logprob: null })[],
  offset: number,
) {
  const texts = ctx.service.tokenTexts;
  const out = {
    tokens: [] as string[],
    token_logprobs: [] as (number | null)[],
    top_logprobs: [] as (Record<string, number> | null)[],
    text_offset: [] as number[],
  };
  for (const t of tokens) {
    const s = texts.display(t.id);
    out.tokens.push(s);
    out.token_logprobs.push(t.logprob);
    out.top_logprobs.push(
      'top' in t ? Object.fromEntries(t.top.map((a) => [texts.display(a.id), a.logprob])) : null,
    );
    out.text_offset.push(offset);
    offset += s.length;
  }
  return out;
}

function chatLogprobs(ctx: CompletionContext, tokens: TokenLogprob[]) {
  const texts = ctx.service.tokenTexts;
  const entry = (id: number, logprob: number) => {
    const token = texts.display(id);
    return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
  };
  return {
    content: tokens.map((t) => ({
      ...entry(t.id, t.logprob),
      top_logprobs: t.top.map((a) => entry(a.id, a.logprob)),
    })),
  };
}

export async function textCompletion(
  ctx: CompletionContext,
  reply: FastifyReply,
  r: CompletionRequest,
): Promise<unknown> {
  const { service } = ctx;
  const base = {
    id: `cmpl-${randomUUID()}`,
    created: now(),
    model: service.modelName,
    object: 'text_completion',
  };
  const prompts = r.prompts.map((p) => promptIds(ctx, p));
  const top = r.logprobs;
  // echo: the prompt's text and (with logprobs) its tokens' log-probs, computed once per prompt
  const echoed = prompts.map((ids) => {
    if (!r.echo) return { text: '', tokens: [] as (TokenLogprob | { id: number; logprob: null })[] };
    const text = service.tok.decode(ids);
    if (top === null) return { text, tokens: [] };
    return { text, tokens: [{ id: ids[0], logprob: null }, ...promptLogprobs(service.model, ids, top)] };
  });
  const jobs = prompts.flatMap((ids, p) =>
    Array.from({ length: r.n }, (_, j) => ({ ids, p, index: p * r.n + j, j })),
  );
  const lp = (p: number, tokens: TokenLogprob[], offset: number, withEcho: boolean) =>
    top === null ? null : legacyLogprobs(ctx, [...(withEcho ? echoed[p].tokens : []), ...tokens], offset);
  const promptUsage = prompts.reduce((s, ids) => s + ids.length, 0);
  if (r.maxTokens === 0) {
    ctx.metrics?.promptTokens.inc(promptUsage);
    return {
      ...base,
      choices: jobs.map(({ p, index }) => ({
        index,
        text: echoed[p].text,
        logprobs: lp(p, [], 0, true),
        finish_reason: 'length',
      })),
      usage: usageOf(promptUsage, 0),
    };
  }
  if (!r.stream) {
    const choices = await Promise.all(
      jobs.map(async ({ ids, index, j }) => ({
        ...(await runChoice(ctx, ids, r, j, top, () => undefined)),
        index,
      })),
    );
    return {
      ...base,
      choices: choices.map((c, i) => ({
        index: c.index,
        text: echoed[jobs[i].p].text + c.text,
        logprobs: lp(jobs[i].p, c.tokens, 0, true),
        finish_reason: c.finish,
      })),
      usage: usageOf(
        promptUsage,
        choices.reduce((s, c) => s + c.usage.completionTokens, 0),
        choices.reduce((s, c) => s + c.usage.cachedTokens, 0),
      ),
    };
  }
  const sse = openStream(reply);
  let completion = 0;
  try {
    await Promise.all(
      jobs.map(async ({ ids, p, index, j }) => {
        let offset = 0;
        if (r.echo) {
          sse.send({
            ...base,
            choices: [{ index, text: echoed[p].text, logprobs: lp(p, [], 0, true), finish_reason: null }],
          });
          offset = echoed[p].text.length;
        }
        const c = await runChoice(
          ctx,
          ids,
          r,
          j,
          top,
          (d, tokens) => {
            if (!d.text && !d.finish && !tokens.length) return;
            sse.send({
              ...base,
              choices: [
                {
                  index,
                  text: d.text,
                  logprobs: lp(p, tokens, offset, false),
                  finish_reason: d.finish ?? null,
                },
              ],
            });
            offset += d.text.length;
          },
          sse.signal,
        );
        completion += c.usage.completionTokens;
      }),
    );
    if (r.includeUsage) sse.send({ ...base, choices: [], usage: usageOf(promptUsage, completion) });
  } catch (e) {
    sse.send({ error: { message: (e as Error).message, type: 'server_error', param: null, code: null } });
  }
  sse.end();
  return reply;
}

export async function chatCompletion(
  ctx: CompletionContext,
  reply: FastifyReply,
  r: ChatRequest,
): Promise<unknown> {
  const { service } = ctx;
  const base = { id: `chatcmpl-${randomUUID()}`, created: now(), model: service.modelName };
  if (r.images.length && !ctx.images)
    throw new ApiError(`${service.modelName} is a text model: it takes no image parts`, 400, 'messages');
  const vision = ctx.images ? await chatImages(ctx.images, service.tok, r) : null;
  try {
    return await chatAnswer(
      ctx,
      reply,
      r,
      base,
      vision?.prompt ?? service.chatPrompt(r.messages),
      vision?.images,
    );
  } finally {
    vision?.dispose();
  }
}

async function chatAnswer(
  ctx: CompletionContext,
  reply: FastifyReply,
  r: ChatRequest,
  base: { id: string; created: number; model: string },
  rendered: number[],
  images: readonly PromptImage[] | undefined,
): Promise<unknown> {
  const prompt = promptIds(ctx, rendered);
  const top = r.logprobs ? r.topLogprobs : null;
  const indices = Array.from({ length: r.n }, (_, i) => i);
  if (!r.stream) {
    const choices = await Promise.all(
      indices.map((i) => runChoice(ctx, prompt, r, i, top, () => undefined, undefined, images)),
    );
    return {
      ...base,
      object: 'chat.completion',
      choices: choices.map((c) => ({
        index: c.index,
        message: { role: 'assistant', content: c.text },
        logprobs: top === null ? null : chatLogprobs(ctx, c.tokens),
        finish_reason: c.finish,
      })),
      usage: usageOf(
        prompt.length * r.n,
        choices.reduce((s, c) => s + c.usage.completionTokens, 0),
        choices.reduce((s, c) => s + c.usage.cachedTokens, 0),
      ),
    };
  }
  const sse = openStream(reply);
  const chunk = (index: number, delta: object, finish: Delta['finish'] | null, tokens?: TokenLogprob[]) =>
    sse.send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [
        {
          index,
          delta,
          logprobs: top === null || !tokens ? null : chatLogprobs(ctx, tokens),
          finish_reason: finish,
        },
      ],
    });
  let completion = 0;
  try {
    await Promise.all(
      indices.map(async (index) => {
        chunk(index, { role: 'assistant', content: '' }, null);
        const c = await runChoice(
          ctx,
          prompt,
          r,
          index,
          top,
          (d, tokens) => {
            if (!d.text && !d.finish && !tokens.length) return;
            chunk(index, d.text ? { content: d.text } : {}, d.finish ?? null, tokens);
          },
          sse.signal,
          images,
        );
        completion += c.usage.completionTokens;
      }),
    );
    if (r.includeUsage)
      sse.send({
        ...base,
        object: 'chat.completion.chunk',
        choices: [],
        usage: usageOf(prompt.length * r.n, completion),
      });
  } catch (e) {
    sse.send({ error: { message: (e as Error).message, type: 'server_error', param: null, code: null } });
  }
  sse.end();
  return reply;
}
