/**
 * The runner's two scoring primitives over either an in-process model or an OpenAI-compatible
 * endpoint (endpoint.ts), so `minicpm eval --endpoint URL` scores through the same runners.
 */
import type { MiniCPM } from '../models/minicpm.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { EndpointBackend } from './endpoint.js';
import { complete as completeLocal, type GenerationSettings } from './generation.js';
import { optionLogProbs as optionLogProbsLocal, type OptionScore } from './likelihood.js';

/** What the runners score: a loaded model, or a server. */
export type EvalModel = MiniCPM | EndpointBackend;

export function optionLogProbs(
  m: EvalModel,
  prompt: readonly number[],
  options: readonly (readonly number[])[],
): Promise<OptionScore[]> {
  return m instanceof EndpointBackend
    ? m.optionLogProbs(prompt, options)
    : Promise.resolve(optionLogProbsLocal(m, prompt, options));
}

/** A server generates to max tokens or a stop string (`decided` early exits are in-process only). */
export function complete(
  m: EvalModel,
  tok: Tokenizer,
  prompt: number[],
  s: GenerationSettings,
): Promise<string> {
  return m instanceof EndpointBackend ? m.complete(prompt, s) : completeLocal(m, tok, prompt, s);
}
