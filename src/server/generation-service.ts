/**
 * The model behind the API: turns a prompt into streamed text deltas. Requests run concurrently
 * through the continuous-batching scheduler (scheduler.ts), each with its own sampler. Text is decoded
 * incrementally (incremental-text.ts); stop strings are matched on it, and text that might be the
 * start of a stop string is held back until it is decided.
 */
import { randomInt } from 'node:crypto';
import { chatFormatFor, renderPrompt, type ChatFormat } from '../align/chat-format.js';
import { Sampler } from '../engine/sampler.js';
import type { KVCacheDtype } from '../models/kv-cache.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { PromptImage } from '../models/minicpmv-splice.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';
import { IncrementalText } from './incremental-text.js';
import { TokenTexts } from './json-constraint.js';
import type { SamplingRequest } from './requests.js';
import {
  Scheduler,
  SchedulerBusyError,
  SchedulerError,
  type SchedulerOptions,
  type SequenceResult,
  type TokenConstraint,
} from './scheduler.js';

export type FinishReason = 'stop' | 'length';

export interface Delta {
  text: string;
  /** Set on the last delta. */
  finish?: FinishReason;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the prefix cache. */
  cachedTokens: number;
}

/** Length of the longest suffix of `text` that begins some stop string (and so may still become one). */
function pendingStop(text: string, stops: readonly string[]): number {
  let keep = 0;
  for (const s of stops)
    for (let k = Math.min(s.length - 1, text.length); k > keep; k--)
      if (text.endsWith(s.slice(0, k))) {
        keep = k;
        break;
      }
  return keep;
}

export interface ServiceOptions extends SchedulerOptions {
  chatTemplate?: string;
}

export class GenerationService {
  readonly format: ChatFormat;
  readonly scheduler: Scheduler;
  private texts: TokenTexts | null = null;

  constructor(
    readonly model: MiniCPM,
    readonly tok: Tokenizer,
    readonly modelName: string,
    opts: ServiceOptions = {},
  ) {
    this.format = chatFormatFor('auto', model.config.modelType, opts.chatTemplate);
    this.scheduler = new Scheduler(model, opts);
  }

  get kvCacheDtype(): KVCacheDtype {
    return this.scheduler.kvDtype;
  }

  /** Each token's text, for log-probs and JSON mode (built on first use). */
  get tokenTexts(): TokenTexts {
    return (this.texts ??= new TokenTexts(this.tok));
  }

  /** Refuses up front (503) when `count` more sequences would overflow the queue, e.g. before a stream opens. */
  checkCapacity(count: number): void {
    const e = this.scheduler.refusal(count);
    if (e) throw new ApiError(e.message, 503, null, 'server_busy', e.retryAfter);
  }

  get contextLength(): number {
    return this.model.config.maxPositionEmbeddings;
  }

  completionPrompt(prompt: string): number[] {
    const ids = this.tok.encode(prompt);
    return this.tok.bosId >= 0 ? [this.tok.bosId, ...ids] : ids;
  }

  chatPrompt(messages: ChatMessage[]): number[] {
    return renderPrompt(this.tok, this.format, messages);
  }

  /** Refuses new requests and resolves when running ones have finished. */
  close(): Promise<void> {
    return this.scheduler.close();
  }

  /** The sampler of one completion (choice `index` of the request). */
  samplerFor(r: SamplingRequest, index = 0): Sampler {
    return new Sampler({
      greedy: r.temperature === 0,
      temperature: r.temperature || undefined,
      topP: r.topP < 1 ? r.topP : undefined,
      topK: r.topK,
      minP: r.minP,
      repetitionPenalty: r.repetitionPenalty,
      presencePenalty: r.presencePenalty,
      frequencyPenalty: r.frequencyPenalty,
      // with a seed every choice has its own reproducible stream; without one, a fresh one
      seed: r.seed !== undefined ? (r.seed + index) >>> 0 : randomInt(2 ** 32),
    });
  }

  /**
   * Text deltas for `prompt`; `onDelta` is called as text becomes final (`onToken` sees every token id
   * with its logits row). Resolves with the usage once the completion ends (EOS, a stop string, or max
   * tokens) or `signal` aborts (a client that went away).
   */
  async complete(
    prompt: number[],
    r: SamplingRequest,
    onDelta: (d: Delta) => void,
    signal?: AbortSignal,
    opts: {
      index?: number;
      onToken?: (id: number, logits: Float32Array) => void;
      constraint?: TokenConstraint;
      /** MiniCPM-V: the prompt's images (their tokens), spliced during the prefill. */
      images?: readonly PromptImage[];
    } = {},
  ): Promise<Usage> {
    if (prompt.length + r.maxTokens > this.contextLength)
      throw new ApiError(
        `the prompt (${prompt.length} tokens) plus max_tokens (${r.maxTokens}) exceeds the context of ${this.contextLength}`,
        400,
        'max_tokens',
      );
    const detok = new IncrementalText(this.tok);
    const eos = this.tok.eosId;
    let emitted = 0;
    let text = '';
    let stopped = false;
    let result: SequenceResult;
    try {
      result = await this.scheduler.submit({
        prompt,
        maxTokens: r.maxTokens,
        sampler: this.samplerFor(r, opts.index),
        stopIds: eos >= 0 ? [eos] : [],
        signal,
        constraint: opts.constraint,
        images: opts.images,
        onToken: (id, logits) => {
          opts.onToken?.(id, logits);
          if (id === eos) return;
          text += detok.push(id);
          const at = Math.min(
            ...r.stop.map((s) => text.indexOf(s, Math.max(0, emitted - s.length))).filter((i) => i >= 0),
          );
          if (at !== Infinity) {
            onDelta({ text: text.slice(emitted, Math.max(at, emitted)), finish: 'stop' });
            stopped = true;
            return false;
          }
          // hold back a possible stop-string start (unfinished characters never reach `text`)
          const safe = text.length - pendingStop(text, r.stop);
          if (safe > emitted) {
            onDelta({ text: text.slice(emitted, safe) });
            emitted = safe;
          }
        },
      });
    } catch (e) {
      if (e instanceof SchedulerBusyError)
        throw new ApiError(e.message, 503, null, 'server_busy', e.retryAfter);
      if (e instanceof SchedulerError) throw new ApiError(e.message, 400, 'max_tokens');
      throw e;
    }
    if (!stopped) {
      text += detok.flush();
      onDelta({ text: text.slice(emitted), finish: result.finish === 'length' ? 'length' : 'stop' });
    }
    return {
      promptTokens: result.promptTokens,
      completionTokens: result.completionTokens,
      cachedTokens: result.cachedTokens,
    };
  }
}
