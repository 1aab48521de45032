/**
 * The OpenAI request bodies this server accepts, checked field by field: a wrong field is a 400 naming
 * it, never a crash inside generation. Extensions beyond OpenAI's fields (top_k, min_p,
 * repetition_penalty) follow the names llama.cpp's and vLLM's servers use. `limits` are the server's
 * operator-set bounds (--max-tokens-limit); the prompt-length bound is checked once it is tokenized.
 */
import type { ChatMessage } from '../tokenizer/index.js';
import { ApiError } from './errors.js';
import { compileSchema, SchemaError, type SchemaNode } from './json-schema.js';

export interface SamplingRequest {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  stop: string[];
  seed?: number;
  stream: boolean;
  /** Completions per prompt. */
  n: number;
  /** Streaming: a last chunk with the usage (stream_options.include_usage). */
  includeUsage: boolean;
  /** response_format json_object / json_schema: constrained to a JSON object. */
  json: boolean;
  /** response_format json_schema: the compiled schema the object must validate against. */
  jsonSchema?: SchemaNode;
}

/** A prompt as text or as token ids. */
export type Prompt = string | number[];

export interface CompletionRequest extends SamplingRequest {
  /** One or more prompts (a batch: choices are numbered prompt by prompt). */
  prompts: Prompt[];
  echo: boolean;
  /** Number of top log-probs per token (0: the chosen token's only); null: none. */
  logprobs: number | null;
}

export interface ChatRequest extends SamplingRequest {
  /** Each image part is an IMAGE_PART_MARKER in its user message's content. */
  messages: ChatMessage[];
  /** The image parts' URLs (data: or http(s):), in order of their markers; resolved by images.ts. */
  images: string[];
  logprobs: boolean;
  topLogprobs: number;
}

export interface RequestLimits {
  maxContext: number;
  /** Upper bound on max_tokens (default: the context). */
  maxTokens?: number;
}

type Body = Record<string, unknown>;

function num(b: Body, key: string, dflt: number | undefined, min: number, max: number): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new ApiError(`"${key}" must be a number in [${min}, ${max}]`, 400, key);
  return v;
}

function sampling(b: Body, limits: RequestLimits, minTokens: number): SamplingRequest {
  const n = num(b, 'n', 1, 1, 16)!;
  if (!Number.isInteger(n)) throw new ApiError('"n" must be an integer in [1, 16]', 400, 'n');
  const stop = b.stop;
  const stops = stop === undefined || stop === null ? [] : typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(stops) || stops.length > 4 || stops.some((s) => typeof s !== 'string' || s === ''))
    throw new ApiError('"stop" must be a non-empty string or a list of up to 4 of them', 400, 'stop');
  if (b.stream !== undefined && typeof b.stream !== 'boolean')
    throw new ApiError('"stream" must be a boolean', 400, 'stream');
  const cap = Math.min(limits.maxTokens ?? limits.maxContext, limits.maxContext);
  const maxTokens =
    num(b, 'max_completion_tokens', undefined, minTokens, cap) ??
    num(b, 'max_tokens', Math.min(256, cap), minTokens, cap)!;
  if (!Number.isInteger(maxTokens)) throw new ApiError('"max_tokens" must be an integer', 400, 'max_tokens');
  const seed = num(b, 'seed', undefined, 0, 2 ** 32 - 1);
  const topK = num(b, 'top_k', undefined, 0, 1e6);
  return {
    maxTokens,
    temperature: num(b, 'temperature', 1, 0, 2)!,
    topP: num(b, 'top_p', 1, 0, 1)!,
    topK: topK ? Math.floor(topK) : undefined,
    minP: num(b, 'min_p', undefined, 0, 1),
    repetitionPenalty: num(b, 'repetition_penalty', undefined, 0.01, 10),
    presencePenalty: num(b, 'presence_penalty', undefined, -2, 2) || undefined,
    frequencyPenalty: num(b, 'frequency_penalty', undefined, -2, 2) || undefined,
    stop: stops as string[],
    seed: seed === undefined ? undefined : Math.floor(seed),
    stream: b.stream === true,
    n,
    includeUsage: streamOptions(b),
    ...responseFormat(b),
  };
}

function streamOptions(b: Body): boolean {
  const o = b.stream_options;
  if (o === undefined || o === null) return false;
  const inc = (o as { include_usage?: unknown }).include_usage;
  if (typeof o !== 'object' || (inc !== undefined && typeof inc !== 'boolean'))
    throw new ApiError('"stream_options" must be {"include_usage": boolean}', 400, 'stream_options');
  if (b.stream !== true)
    throw new ApiError('"stream_options" is only allowed with "stream": true', 400, 'stream_options');
  return inc === true;
}

function responseFormat(b: Body): { json: boolean; jsonSchema?: SchemaNode } {
  const f = b.response_format;
  if (f === undefined || f === null) return { json: false };
  const type = (f as { type?: unknown }).type;
  if (type === 'text') return { json: false };
  if (type === 'json_object') return { json: true };
  if (type === 'json_schema') {
    const js = (f as { json_schema?: { schema?: unknown } }).json_schema;
    if (!js || typeof js !== 'object' || js.schema === undefined)
      throw new ApiError(
        '"response_format" json_schema needs {"json_schema": {"name": ..., "schema": {...}}}',
        400,
        'response_format',
      );
    try {
      return { json: true, jsonSchema: compileSchema(js.schema) };
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      throw new ApiError(`response_format json_schema: ${e.message}`, 400, 'response_format');
    }
  }
  throw new ApiError(
    '"response_format" must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", ...}',
    400,
    'response_format',
  );
}

const isIds = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && (x as number) >= 0);

function body(raw: unknown): Body {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ApiError('the request body must be a JSON object');
  return raw as Body;
}

export function parseCompletion(raw: unknown, limits: RequestLimits): CompletionRequest {
  const b = body(raw);
  const p = b.prompt;
  // a string, a list of token ids, or a batch of either
  const prompts: Prompt[] | null =
    typeof p === 'string' || isIds(p)
      ? [p]
      : Array.isArray(p) &&
          p.length > 0 &&
          p.length <= 64 &&
          p.every((x) => typeof x === 'string' || isIds(x))
        ? p
        : null;
  if (!prompts)
    throw new ApiError(
      '"prompt" must be a string, a list of token ids, or a list of up to 64 of either',
      400,
      'prompt',
    );
  if (b.echo !== undefined && b.echo !== null && typeof b.echo !== 'boolean')
    throw new ApiError('"echo" must be a boolean', 400, 'echo');
  const logprobs = num(b, 'logprobs', undefined, 0, 20);
  if (logprobs !== undefined && !Number.isInteger(logprobs))
    throw new ApiError('"logprobs" must be an integer in [0, 20]', 400, 'logprobs');
  const echo = b.echo === true;
  const r = sampling(b, limits, echo ? 0 : 1);
  if (r.maxTokens === 0 && r.stream) throw new ApiError('"max_tokens": 0 cannot stream', 400, 'max_tokens');
  return { ...r, prompts, echo, logprobs: logprobs ?? null };
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** Where an image part stood in a message's text (MiniCPM-V's own marker, expanded to a span). */
export const IMAGE_PART_MARKER = '<image>';

/**
 * OpenAI content parts as text: text parts joined, each image part a marker followed by a newline
 * when text follows (MiniCPM-V 1.0's chat puts `\n` between the image and the question).
 */
function partsText(parts: unknown[], i: number, role: string, images: string[]): string {
  let out = '';
  parts.forEach((part, k) => {
    const p = part as { type?: unknown; text?: unknown; image_url?: unknown };
    if (p?.type === 'text' && typeof p.text === 'string') {
      if (k > 0 && out.endsWith(IMAGE_PART_MARKER) && !/^\s/.test(p.text)) out += '\n';
      out += p.text;
      return;
    }
    if (p?.type === 'image_url') {
      const u = p.image_url;
      const url = typeof u === 'string' ? u : (u as { url?: unknown } | null)?.url;
      if (typeof url !== 'string' || url === '')
        throw new ApiError(
          `messages[${i}].content[${k}].image_url must be {"url": "data:image/…;base64,…"}`,
          400,
          'messages',
        );
      if (role !== 'user')
        throw new ApiError(
          `messages[${i}]: images belong in user messages, not in ${role} messages`,
          400,
          'messages',
        );
      images.push(url);
      out += IMAGE_PART_MARKER;
      return;
    }
    throw new ApiError(
      `messages[${i}].content[${k}]: parts must be {"type": "text", "text": …} or {"type": "image_url", "image_url": {"url": …}}`,
      400,
      'messages',
    );
  });
  return out;
}

export function parseChat(raw: unknown, limits: RequestLimits): ChatRequest {
  const b = body(raw);
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw new ApiError('"messages" must be a non-empty list', 400, 'messages');
  const images: string[] = [];
  const messages = b.messages.map((m, i): ChatMessage => {
    const r = m as { role?: unknown; content?: unknown };
    if (!r || typeof r.role !== 'string' || !ROLES.has(r.role))
      throw new ApiError(`messages[${i}].role must be system, user or assistant`, 400, 'messages');
    // content may also be OpenAI's list of parts: text and image_url parts
    const content = Array.isArray(r.content) ? partsText(r.content, i, r.role, images) : r.content;
    if (typeof content !== 'string')
      throw new ApiError(`messages[${i}].content must be a string`, 400, 'messages');
    return { role: r.role as ChatMessage['role'], content };
  });
  if (messages[messages.length - 1].role !== 'user')
    throw new ApiError('the last message must come from the user', 400, 'messages');
  if (b.logprobs !== undefined && b.logprobs !== null && typeof b.logprobs !== 'boolean')
    throw new ApiError('"logprobs" must be a boolean', 400, 'logprobs');
  const top = num(b, 'top_logprobs', 0, 0, 20)!;
  if (!Number.isInteger(top))
    throw new ApiError('"top_logprobs" must be an integer in [0, 20]', 400, 'top_logprobs');
  if (top > 0 && b.logprobs !== true)
    throw new ApiError('"top_logprobs" needs "logprobs": true', 400, 'top_logprobs');
  return { ...sampling(b, limits, 1), messages, images, logprobs: b.logprobs === true, topLogprobs: top };
}
