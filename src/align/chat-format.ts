/**
 * How conversations become token ids with a loss mask. MiniCPM's own format (SPEC §6, plain-text
 * `<用户>`/`<AI>` markers, each part tokenized alone) is the default for MiniCPM models; other models use
 * the Jinja `chat_template` of their tokenizer_config.json. `minicpm-finetune` reproduces the ids and
 * labels of OpenBMB's finetune.py of March 2024 (SPEC §8), for fine-tuning a released MiniCPM exactly as
 * its authors' script did; prompts for inference keep the tokenizer's own format.
 */
import {
  applyChatTemplate,
  renderMiniCpmChat,
  type ChatMessage,
  type RenderedChat,
  type Tokenizer,
} from '../tokenizer/index.js';
import { AlignError } from './errors.js';
import { renderFinetuneChat } from './finetune-format.js';

export type ChatFormat =
  { kind: 'minicpm' } | { kind: 'minicpm-finetune' } | { kind: 'jinja'; template: string };

export const CHAT_FORMAT_CHOICES = ['auto', 'minicpm', 'minicpm-finetune', 'jinja'] as const;

/**
 * `choice` 'auto': MiniCPM's format for a `minicpm` model or when the tokenizer has no template, the
 * tokenizer's Jinja template otherwise.
 */
export function chatFormatFor(
  choice: string,
  modelType: string,
  chatTemplate: string | undefined,
): ChatFormat {
  if (!(CHAT_FORMAT_CHOICES as readonly string[]).includes(choice))
    throw new AlignError(`--chat-format must be one of ${CHAT_FORMAT_CHOICES.join(', ')}, got "${choice}"`);
  if (choice === 'minicpm-finetune') return { kind: 'minicpm-finetune' };
  if (choice === 'minicpm' || (choice === 'auto' && (modelType === 'minicpm' || !chatTemplate)))
    return { kind: 'minicpm' };
  if (!chatTemplate)
    throw new AlignError('--chat-format jinja needs a tokenizer_config.json with a chat_template');
  return { kind: 'jinja', template: chatTemplate };
}

/** A whole training conversation: mask 1 on assistant tokens and the token closing each assistant turn. */
export function renderConversation(tok: Tokenizer, f: ChatFormat, messages: ChatMessage[]): RenderedChat {
  if (f.kind === 'minicpm') return renderMiniCpmChat(tok, messages);
  if (f.kind === 'minicpm-finetune') return renderFinetuneChat(tok, messages);
  const { ids, mask } = applyChatTemplate(tok, f.template, messages);
  return { ids, mask };
}

/** The ids a model continues from: the conversation so far plus the assistant's turn opener. */
export function renderPrompt(tok: Tokenizer, f: ChatFormat, messages: ChatMessage[]): number[] {
  if (f.kind === 'minicpm') return renderMiniCpmChat(tok, messages, { addGenerationPrompt: true }).ids;
  if (f.kind === 'minicpm-finetune')
    return renderFinetuneChat(tok, messages, { addGenerationPrompt: true }).ids;
  return applyChatTemplate(tok, f.template, messages, { addGenerationPrompt: true }).ids;
}

/**
 * A prompt and one answer, masked on the answer only (DPO scores the final response, not earlier
 * assistant turns). The answer's rendering must extend the prompt's ids, which holds for MiniCPM's
 * format and for templates that render turns independently.
 */
export function renderAnswer(
  tok: Tokenizer,
  f: ChatFormat,
  prompt: ChatMessage[],
  answer: string,
): RenderedChat {
  const head = renderPrompt(tok, f, prompt);
  const full = renderConversation(tok, f, [...prompt, { role: 'assistant', content: answer }]);
  if (full.ids.length <= head.length || head.some((id, i) => full.ids[i] !== id))
    throw new AlignError(
      'the chat template renders the prompt differently with and without the answer; use --chat-format minicpm',
    );
  return { ids: full.ids, mask: full.mask.map((m, i) => (i < head.length ? 0 : m)) };
}
