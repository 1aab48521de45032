/**
 * The OpenAI request bodies this server accepts, checked field by field: a wrong field is a 400 naming
 * it, never a crash inside generation. Extensions beyond OpenAI's fields (top_k, min_p,
 * repetition_penalty) follow the names llama.cpp's and vLLM's servers use.
 */
import type { ChatMessage } from '../tokenizer/index.js';
import { ApiError } from './errors.js';

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
}

export interface CompletionRequest extends SamplingRequest {
  prompt: string;
}

export interface ChatRequest extends SamplingRequest {
  messages: ChatMessage[];
}

type Body = Record<string, unknown>;

function num(b: Body, key: string, dflt: number | undefined, min: number, max: number): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new ApiError(`"${key}" must be a number in [${min}, ${max}]`, 400, key);
  return v;
}

function sampling(b: Body, maxContext: number): SamplingRequest {
  const n = num(b, 'n', 1, 1, 1);
  if (n !== 1) throw new ApiError('only n = 1 is supported', 400, 'n');
  const stop = b.stop;
  const stops = stop === undefined || stop === null ? [] : typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(stops) || stops.length > 4 || stops.some((s) => typeof s !== 'string' || s === ''))
    throw new ApiError('"stop" must be a non-empty string or a list of up to 4 of them', 400, 'stop');
  if (b.stream !== undefined && typeof b.stream !== 'boolean')
    throw new ApiError('"stream" must be a boolean', 400, 'stream');
  const maxTokens =
    num(b, 'max_completion_tokens', undefined, 1, maxContext) ?? num(b, 'max_tokens', 256, 1, maxContext)!;
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
  };
}

function body(raw: unknown): Body {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ApiError('the request body must be a JSON object');
  return raw as Body;
}

export function parseCompletion(raw: unknown, maxContext: number): CompletionRequest {
  const b = body(raw);
  const p: unknown = Array.isArray(b.prompt) && b.prompt.length === 1 ? (b.prompt as unknown[])[0] : b.prompt;
  if (typeof p !== 'string')
    throw new ApiError('"prompt" must be a string (one prompt per request)', 400, 'prompt');
  return { ...sampling(b, maxContext), prompt: p };
}

const ROLES = new Set(['system', 'user', 'assistant']);

export function parseChat(raw: unknown, maxContext: number): ChatRequest {
  const b = body(raw);
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw new ApiError('"messages" must be a non-empty list', 400, 'messages');
  const messages = b.messages.map((m, i): ChatMessage => {
    const r = m as { role?: unknown; content?: unknown };
    if (!r || typeof r.role !== 'string' || !ROLES.has(r.role))
      throw new ApiError(`messages[${i}].role must be system, user or assistant`, 400, 'messages');
    // content may also be OpenAI's list of parts; only text parts are understood
    const content = Array.isArray(r.content)
      ? r.content
          .map((part: { type?: unknown; text?: unknown }) => {
            if (part?.type !== 'text' || typeof part.text !== 'string')
              throw new ApiError(`messages[${i}].content: only text parts are supported`, 400, 'messages');
            return part.text;
          })
          .join('')
      : r.content;
    if (typeof content !== 'string')
      throw new ApiError(`messages[${i}].content must be a string`, 400, 'messages');
    return { role: r.role as ChatMessage['role'], content };
  });
  if (messages[messages.length - 1].role !== 'user')
    throw new ApiError('the last message must come from the user', 400, 'messages');
  return { ...sampling(b, maxContext), messages };
}
