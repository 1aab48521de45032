/**
 * Evaluation against any OpenAI-compatible server (`minicpm eval --endpoint URL`): the two scoring
 * primitives of the in-process runner, answered over HTTP. Likelihood goes through /v1/completions
 * with token-id prompts, `echo`, `logprobs` and `max_tokens: 0` (the option tokens' log-probs are read
 * from the echoed prompt, as lm-evaluation-harness does); generation through /v1/completions with the
 * harness's sampling settings and seed. Servers without prompt log-probs (llama.cpp's) are refused
 * with a clear error rather than silently scoring at chance.
 */
import { EvalError } from './errors.js';
import type { GenerationSettings } from './generation.js';
import type { OptionScore } from './likelihood.js';

interface CompletionResponse {
  choices?: { index: number; text: string; logprobs?: { token_logprobs?: (number | null)[] } | null }[];
  error?: { message: string };
}

export interface EndpointOptions {
  apiKey?: string;
  /** Model id sent with each request (servers with one model ignore it). */
  model?: string;
}

export class EndpointBackend {
  private readonly url: string;

  constructor(
    baseUrl: string,
    private readonly o: EndpointOptions = {},
  ) {
    this.url = `${baseUrl.replace(/\/+$/, '')}/completions`;
  }

  private async post(body: Record<string, unknown>): Promise<CompletionResponse> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {}),
      },
      body: JSON.stringify({ model: this.o.model ?? 'default', ...body }),
    });
    const json = (await res.json().catch(() => ({}))) as CompletionResponse;
    if (!res.ok || !json.choices)
      throw new EvalError(`${this.url} answered ${res.status}: ${json.error?.message ?? 'no choices'}`);
    return json;
  }

  /** Σ and mean log p(option | prompt) for each option, from one batched echo request. */
  async optionLogProbs(
    prompt: readonly number[],
    options: readonly (readonly number[])[],
  ): Promise<OptionScore[]> {
    if (!prompt.length) throw new EvalError('a prompt needs at least one token');
    if (options.some((o) => o.length === 0)) throw new EvalError('an option tokenized to nothing');
    const r = await this.post({
      prompt: options.map((o) => [...prompt, ...o]),
      echo: true,
      logprobs: 0,
      max_tokens: 0,
      temperature: 0,
    });
    const byIndex = [...r.choices!].sort((a, b) => a.index - b.index);
    return options.map((opt, i) => {
      const lps = byIndex[i]?.logprobs?.token_logprobs;
      if (!lps || lps.length !== prompt.length + opt.length)
        throw new EvalError(
          `${this.url} returned no prompt log-probs for echo; the server cannot score likelihood tasks (use generation mode)`,
        );
      const sum = lps.slice(prompt.length).reduce((s: number, x) => s + (x ?? 0), 0);
      return { sum, mean: sum / opt.length, tokens: opt.length };
    });
  }

  /** The completion of one prompt with the harness's settings, cut at the first stop string. */
  async complete(prompt: readonly number[], s: GenerationSettings): Promise<string> {
    const r = await this.post({
      prompt: [...prompt],
      max_tokens: s.maxNewTokens,
      temperature: s.temperature,
      top_p: s.topP,
      seed: s.seed,
      ...(s.stop.length ? { stop: s.stop.slice(0, 4) } : {}),
    });
    let text = r.choices![0].text;
    // servers take at most 4 stop strings: cut at any others here
    const at = Math.min(...s.stop.map((x) => text.indexOf(x)).filter((i) => i >= 0));
    if (at !== Infinity) text = text.slice(0, at);
    return text;
  }
}
