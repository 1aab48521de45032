/**
 * Reading alignment data: SFT conversations and DPO preference pairs, as JSONL (one record a line) or a
 * JSON array. Every record is checked where it is read, so an error names the file and line.
 *
 *   SFT: {"messages": [{"role": "user"|"assistant"|"system", "content": "…"}, …]}  (SPEC §7)
 *   DPO: {"prompt": "…" | [messages], "chosen": "…" | [messages], "rejected": "…" | [messages]}
 * In the message-list form of DPO (UltraFeedback's), chosen and rejected are whole conversations that
 * share every message but the last, which must be the assistant's answer; a "prompt" there is optional.
 */
import fs from 'node:fs';
import type { ChatMessage } from '../tokenizer/index.js';
import { AlignError } from './errors.js';

export interface Conversation {
  messages: ChatMessage[];
}

/** A preference pair: the conversation so far (ending with a user turn) and two assistant answers. */
export interface PreferencePair {
  prompt: ChatMessage[];
  chosen: string;
  rejected: string;
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** Records of a .jsonl file (blank lines skipped) or a .json array, each with its 1-based line. */
export function readRecords(file: string): { line: number; value: unknown }[] {
  if (!fs.existsSync(file)) throw new AlignError(`${file} does not exist`);
  const text = fs.readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new AlignError(`${file} is not valid JSON (${(e as Error).message})`);
    }
    return (arr as unknown[]).map((value, i) => ({ line: i + 1, value }));
  }
  const out: { line: number; value: unknown }[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push({ line: i + 1, value: JSON.parse(l) });
    } catch (e) {
      throw new AlignError(`${file}:${i + 1}: not a JSON object (${(e as Error).message})`);
    }
  });
  if (!out.length) throw new AlignError(`${file} holds no records`);
  return out;
}

function messagesOf(v: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new AlignError(`${where}: "messages" must be a non-empty list of {role, content}`);
  return v.map((m, i) => {
    const r = m as { role?: unknown; content?: unknown };
    if (!r || typeof r.role !== 'string' || !ROLES.has(r.role))
      throw new AlignError(`${where}: message ${i} needs a role of system, user or assistant`);
    if (typeof r.content !== 'string') throw new AlignError(`${where}: message ${i} needs a string content`);
    return { role: r.role as ChatMessage['role'], content: r.content };
  });
}

/** SFT conversations; each must contain an assistant turn and end with one. */
export function readConversations(file: string): Conversation[] {
  return readRecords(file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    const messages = messagesOf((value as { messages?: unknown })?.messages, where);
    if (messages[messages.length - 1].role !== 'assistant')
      throw new AlignError(`${where}: a training conversation must end with an assistant message`);
    return { messages };
  });
}

function answerOf(v: unknown, where: string, name: string): { prefix: ChatMessage[] | null; text: string } {
  if (typeof v === 'string') return { prefix: null, text: v };
  const msgs = messagesOf(v, `${where} "${name}"`);
  const last = msgs[msgs.length - 1];
  if (last.role !== 'assistant')
    throw new AlignError(`${where}: "${name}" must end with an assistant message`);
  return { prefix: msgs.slice(0, -1), text: last.content };
}

const sameMessages = (a: ChatMessage[], b: ChatMessage[]) =>
  a.length === b.length && a.every((m, i) => m.role === b[i].role && m.content === b[i].content);

/** DPO preference pairs (see the file comment for the accepted forms). */
export function readPreferences(file: string): PreferencePair[] {
  return readRecords(file).map(({ line, value }) => {
    const where = `${file}:${line}`;
    const r = value as { prompt?: unknown; chosen?: unknown; rejected?: unknown };
    if (!r || typeof r !== 'object') throw new AlignError(`${where}: expected {prompt, chosen, rejected}`);
    const chosen = answerOf(r.chosen, where, 'chosen');
    const rejected = answerOf(r.rejected, where, 'rejected');
    let prompt: ChatMessage[] | null =
      typeof r.prompt === 'string'
        ? [{ role: 'user', content: r.prompt }]
        : r.prompt === undefined
          ? null
          : messagesOf(r.prompt, `${where} "prompt"`);
    for (const [name, a] of [
      ['chosen', chosen],
      ['rejected', rejected],
    ] as const) {
      if (!a.prefix || a.prefix.length === 0) continue;
      // a conversation-form answer carries the prompt; it must agree with the other one and with "prompt"
      if (prompt && !sameMessages(prompt, a.prefix))
        throw new AlignError(`${where}: "${name}" does not continue the same conversation as the prompt`);
      prompt = a.prefix;
    }
    if (!prompt)
      throw new AlignError(`${where}: no prompt (give "prompt", or chosen/rejected as conversations)`);
    if (prompt[prompt.length - 1].role !== 'user')
      throw new AlignError(`${where}: the prompt must end with a user message`);
    if (chosen.text.trim() === '' || rejected.text.trim() === '')
      throw new AlignError(`${where}: chosen and rejected answers must not be empty`);
    return { prompt, chosen: chosen.text, rejected: rejected.text };
  });
}
