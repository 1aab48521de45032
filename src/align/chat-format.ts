/**
 * How conversations become token ids with a loss mask. MiniCPM's own format (SPEC §6, plain-text
 * `<用户>`/`<AI>` markers, each part tokenized alone) is the default for MiniCPM models; other models use
 * the Jinja `chat_template` of their tokenizer_config.json.
 */
import {
  applyChatTemplate,
  renderMiniCpmChat,
  type ChatMessage,
  type RenderedChat,
  type Tokenizer,
} from '../tokenizer/index.js';
import { AlignError } from './errors.js';

export type ChatFormat = { kind: 'minicpm' } | { kind: 'jinja'; template: string };

/**
 * `choice` 'auto': MiniCPM's format for a `minicpm` model or when the tokenizer has no template, the
 * tokenizer's Jinja template otherwise.
 */
export function chatFormatFor(
  choice: 'auto' | 'minicpm' | 'jinja',
  modelType: string,
  chatTemplate: string | undefined,
): ChatFormat {
  if (choice === 'minicpm' || (choice === 'auto' && (modelType === 'minicpm' || !chatTemplate)))
    return { kind: 'minicpm' };
  if (!chatTemplate)
    throw new AlignError('--chat-format jinja needs a tokenizer_config.json with a chat_template');
  return { kind: 'jinja', template: chatTemplate };
}

/** A whole training conversation: mask 1 on assistant tokens and the token closing each assistant turn. */
export function renderConversation(tok: Tokenizer, f: ChatFormat, messages: ChatMessage[]): RenderedChat {
  if (f.kind === 'minicpm') return renderMiniCpmChat(tok, messages);
  const { ids, mask } = applyChatTemplate(tok, f.template, messages);
  return { ids, mask };
}

/** The ids a model continues from: the conversation so far plus the assistant's turn opener. */
export function renderPrompt(tok: Tokenizer, f: ChatFormat, messages: ChatMessage[]): number[] {
  if (f.kind === 'minicpm') return renderMiniCpmChat(tok, messages, { addGenerationPrompt: true }).ids;
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
