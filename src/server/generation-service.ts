/**
 * The model behind the API: turns a prompt into streamed text deltas. Requests run one at a time (the
 * CPU is the bottleneck; interleaving two would only slow both), in arrival order. Text is decoded
 * incrementally (incremental-text.ts); stop strings are matched on it, and text that might be the
 * start of a stop string is held back until it is decided.
 */
import type { KVCacheDtype } from '../models/kv-cache.js';
import { chatFormatFor, renderPrompt, type ChatFormat } from '../align/chat-format.js';
import { generate } from '../engine/generate.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/index.js';
import { ApiError } from './errors.js';
import { IncrementalText } from './incremental-text.js';
import type { SamplingRequest } from './requests.js';

export type FinishReason = 'stop' | 'length';

export interface Delta {
  text: string;
  /** Set on the last delta. */
  finish?: FinishReason;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
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

export class GenerationService {
  readonly format: ChatFormat;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly model: MiniCPM,
    readonly tok: Tokenizer,
    readonly modelName: string,
    chatTemplate?: string,
    readonly kvCacheDtype: KVCacheDtype = 'f32',
  ) {
    this.format = chatFormatFor('auto', model.config.modelType, chatTemplate);
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

  /** Runs `f` after every earlier request has finished. */
  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Text deltas for `prompt`; `onDelta` is called as text becomes final. Resolves with the usage once the
   * completion ends (EOS, a stop string, or max tokens) or `signal` aborts (a client that went away).
   */
  complete(
    prompt: number[],
    r: SamplingRequest,
    onDelta: (d: Delta) => void,
    signal?: AbortSignal,
  ): Promise<Usage> {
    if (prompt.length + r.maxTokens > this.contextLength)
      throw new ApiError(
        `the prompt (${prompt.length} tokens) plus max_tokens (${r.maxTokens}) exceeds the context of ${this.contextLength}`,
        400,
        'max_tokens',
      );
    return this.exclusive(async () => {
      const ids: number[] = [];
      const detok = new IncrementalText(this.tok);
      let emitted = 0;
      let text = '';
      const eos = this.tok.eosId;
      for await (const step of generate(this.model, [prompt], {
        maxNewTokens: r.maxTokens,
        greedy: r.temperature === 0,
        temperature: r.temperature || undefined,
        topP: r.topP < 1 ? r.topP : undefined,
        topK: r.topK,
        minP: r.minP,
        repetitionPenalty: r.repetitionPenalty,
        kvCacheDtype: this.kvCacheDtype,
        seed: r.seed,
        stopIds: eos >= 0 ? [eos] : undefined,
      })) {
        if (signal?.aborted) break;
        const id = step.ids[0];
        if (id < 0) break;
        if (id === eos) {
          onDelta({ text: text.slice(emitted), finish: 'stop' });
          return { promptTokens: prompt.length, completionTokens: ids.length + 1 };
        }
        ids.push(id);
        text += detok.push(id);
        const at = Math.min(
          ...r.stop.map((s) => text.indexOf(s, Math.max(0, emitted - s.length))).filter((i) => i >= 0),
        );
        if (at !== Infinity) {
          onDelta({ text: text.slice(emitted, Math.max(at, emitted)), finish: 'stop' });
          return { promptTokens: prompt.length, completionTokens: ids.length };
        }
        // hold back a possible stop-string start (unfinished characters never reach `text`)
        const safe = text.length - pendingStop(text, r.stop);
        if (safe > emitted) {
          onDelta({ text: text.slice(emitted, safe) });
          emitted = safe;
        }
      }
      text += detok.flush();
      onDelta({ text: text.slice(emitted), finish: 'length' });
      return { promptTokens: prompt.length, completionTokens: ids.length };
    });
  }
}
