/**
 * Chat rendering to `{ids, mask}`: the mask is 1 on the tokens a model is trained to produce (assistant
 * text and the token that ends its turn), 0 elsewhere — the SFT contract.
 *
 * MiniCPM's format (SPEC §6): `<s><用户>{user}<AI>{assistant}…</s>`, with `<用户>` and `<AI>` plain text.
 * Each part is tokenized on its own, as MiniCPM's fine-tuning code does, so the mask boundaries are exact.
 * Other models: their Jinja `chat_template` (tokenizer_config.json), rendered with @huggingface/jinja.
 */
import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors.js';
import type { Tokenizer } from './types.js';

export type Role = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: Role;
  content: string;
}
export interface RenderedChat {
  ids: number[];
  /** 1 where the loss applies (assistant tokens and the closing EOS / end-of-turn token). */
  mask: number[];
}

export interface MiniCpmChatOptions {
  /** End with `<AI>` and no EOS, for generation (the last message must then be a user message). */
  addGenerationPrompt?: boolean;
  userMarker?: string;
  assistantMarker?: string;
}

function check(messages: ChatMessage[]): void {
  if (messages.length === 0) throw new ChatTemplateError('a conversation needs at least one message');
  for (const [i, m] of messages.entries()) {
    if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') {
      throw new ChatTemplateError(`message ${i} has role "${String(m.role)}"; use system, user or assistant`);
    }
    if (typeof m.content !== 'string') throw new ChatTemplateError(`message ${i} has no string content`);
  }
}

export function renderMiniCpmChat(
  tok: Tokenizer,
  messages: ChatMessage[],
  o: MiniCpmChatOptions = {},
): RenderedChat {
  check(messages);
  const user = tok.encode(o.userMarker ?? '<用户>');
  const assistant = tok.encode(o.assistantMarker ?? '<AI>');
  const ids: number[] = [tok.bosId];
  const mask: number[] = [0];
  const push = (part: number[], m: number) => {
    for (const id of part) {
      ids.push(id);
      mask.push(m);
    }
  };
  for (const [i, m] of messages.entries()) {
    if (m.role === 'system') {
      if (i !== 0) throw new ChatTemplateError('a system message may only come first');
      push(tok.encode(m.content.trim()), 0);
    } else if (m.role === 'user') {
      push(user, 0);
      push(tok.encode(m.content.trim()), 0);
    } else {
      push(assistant, 0);
      push(tok.encode(m.content.trim()), 1);
    }
  }
  const last = messages[messages.length - 1];
  if (o.addGenerationPrompt) {
    if (last.role !== 'user') throw new ChatTemplateError('a generation prompt must end with a user message');
    push(assistant, 0);
  } else {
    if (last.role !== 'assistant') {
      throw new ChatTemplateError(
        'a training conversation must end with an assistant message (or pass addGenerationPrompt)',
      );
    }
    ids.push(tok.eosId);
    mask.push(1);
  }
  return { ids, mask };
}

export interface TemplateOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Extra variables for the template. */
  variables?: Record<string, unknown>;
}

/** Renders a Jinja chat template to text. */
export function renderChatTemplate(
  template: string,
  messages: ChatMessage[],
  o: TemplateOptions = {},
): string {
  check(messages);
  try {
    return new Template(template).render({
      messages,
      bos_token: o.bosToken ?? '',
      eos_token: o.eosToken ?? '',
      add_generation_prompt: o.addGenerationPrompt ?? false,
      ...o.variables,
    });
  } catch (e) {
    throw new ChatTemplateError(`chat_template failed: ${(e as Error).message}`);
  }
}

/**
 * Renders with a Jinja template, then tokenizes: special tokens written by the template are parsed, each
 * assistant message's text (found in order in the rendered text) is tokenized separately and masked 1, as
 * is the special token that closes its turn.
 */
export function applyChatTemplate(
  tok: Tokenizer,
  template: string,
  messages: ChatMessage[],
  o: TemplateOptions = {},
): RenderedChat & { text: string } {
  const bosToken = o.bosToken ?? (tok.bosId >= 0 ? tok.idToPiece(tok.bosId) : '');
  const eosToken = o.eosToken ?? (tok.eosId >= 0 ? tok.idToPiece(tok.eosId) : '');
  const text = renderChatTemplate(template, messages, { ...o, bosToken, eosToken });
  const spans: [number, number][] = [];
  let from = 0;
  for (const m of messages) {
    if (m.role !== 'assistant' || m.content.trim() === '') continue;
    const content = m.content.trim();
    const at = text.indexOf(content, from);
    if (at < 0) continue; // the template rewrote the message; it stays unmasked
    spans.push([at, at + content.length]);
    from = at + content.length;
  }
  const ids: number[] = [];
  const mask: number[] = [];
  let pos = 0;
  const add = (s: string, m: number, closeTurn: boolean) => {
    const part = tok.encode(s, { parseSpecial: true });
    part.forEach((id, k) => {
      ids.push(id);
      mask.push(m === 1 || (closeTurn && k === firstSpecial(tok, part)) ? 1 : 0);
    });
  };
  for (const [a, b] of spans) {
    if (a > pos) add(text.slice(pos, a), 0, false);
    add(text.slice(a, b), 1, false);
    pos = b;
    const next = spans.find(([x]) => x > b)?.[0] ?? text.length;
    add(text.slice(pos, next), 0, true);
    pos = next;
  }
  if (pos < text.length) add(text.slice(pos), 0, false);
  return { text, ids, mask };
}

function firstSpecial(tok: Tokenizer, ids: number[]): number {
  return ids.findIndex((id) => tok.isSpecial(id));
}
