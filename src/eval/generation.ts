/**
 * Generation-mode scoring: sample a completion with the harness's settings (SPEC §8: T 0.3, top-p 0.8;
 * code and math T 0.1, top-p 0.95; at most 300 tokens) and stop at EOS or at a stop string such as the
 * next few-shot "Question:".
 */
import { generate } from '../engine/generate.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { Tokenizer } from '../tokenizer/types.js';

export interface GenerationSettings {
  temperature: number;
  topP: number;
  maxNewTokens: number;
  /** Text that ends the answer (not included in it). */
  stop: string[];
  seed: number;
  /**
   * True once the text decides the score whatever follows (UltraEval generates without stop strings;
   * ending when the outcome is fixed saves time without changing it).
   */
  decided?: (text: string) => boolean;
}

export const GENERAL: Omit<GenerationSettings, 'stop' | 'seed'> = {
  temperature: 0.3,
  topP: 0.8,
  maxNewTokens: 300,
};
export const CODE_MATH: Omit<GenerationSettings, 'stop' | 'seed'> = {
  temperature: 0.1,
  topP: 0.95,
  maxNewTokens: 300,
};

/** The completion of one prompt, cut at the first stop string. */
export async function complete(
  model: MiniCPM,
  tok: Tokenizer,
  prompt: number[],
  s: GenerationSettings,
): Promise<string> {
  const ids: number[] = [];
  let text = '';
  const cut = (t: string): number =>
    Math.min(...s.stop.map((x) => t.indexOf(x)).filter((i) => i >= 0), Infinity);
  for await (const step of generate(model, [prompt], {
    maxNewTokens: s.maxNewTokens,
    temperature: s.temperature,
    topP: s.topP,
    seed: s.seed,
    stopIds: tok.eosId >= 0 ? [tok.eosId] : undefined,
  })) {
    const id = step.ids[0];
    if (id < 0 || id === tok.eosId) break;
    ids.push(id);
    text = tok.decode(ids);
    if (cut(text) !== Infinity || s.decided?.(text)) break;
  }
  const at = cut(text);
  return at === Infinity ? text : text.slice(0, at);
}
