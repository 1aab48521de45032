/**
 * `--chat-format minicpm-finetune` against finetune.py's rule (SPEC §8) with the real MiniCPM-2B tokenizer.
 * Expected ids are assembled from Google SentencePiece's own encodings of the contents (expected.jsonl),
 * never from our encoder, so a wrong content encoding or a stripped content fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AlignError,
  chatFormatFor,
  renderAnswer,
  renderConversation,
  renderPrompt,
  type ChatFormat,
} from '../../src/align/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { hasShared, readJsonl, SHARED_TOK } from '../tokenizer/helpers.js';

const USER = [1786, 4194, 95388];
const AI = [1786, 10850, 95388];
const FT: ChatFormat = { kind: 'minicpm-finetune' };

describe.skipIf(!hasShared)('minicpm-finetune chat format (MiniCPM-2B tokenizer)', () => {
  const dir = join(SHARED_TOK, 'minicpm-2b');
  const tok = SentencePieceTokenizer.fromModelBytes(readFileSync(join(dir, 'tokenizer.model')));
  const ref = new Map(
    readJsonl<{ text: string; ids: number[] }>(join(dir, 'expected.jsonl')).map((e) => [e.text, e.ids]),
  );
  const spm = (text: string): number[] => {
    const ids = ref.get(text);
    if (!ids) throw new Error(`no SentencePiece reference for ${JSON.stringify(text)}`);
    return ids;
  };
  // contents with leading/trailing whitespace: finetune.py does not strip them
  const sys = ' Hello  world\n';
  const u1 = '你好，世界！';
  const a1 = 'Hello, World! How are you?';
  const u2 = '\n\n';
  const a2 = '今天天气很好，我们去公园散步吧。';

  it('the fixed marker ids are the pieces ▁< 用户 > and ▁< AI >', () => {
    expect(USER.map((i) => tok.idToPiece(i))).toEqual(['▁<', '用户', '>']);
    expect(AI.map((i) => tok.idToPiece(i))).toEqual(['▁<', 'AI', '>']);
    // and differ from encoding the markers as text, which is what the minicpm format does
    expect(tok.encode('<用户>')).not.toEqual(USER);
  });

  it('renders a multi-turn conversation with a system message id for id, labels as the script', () => {
    const r = renderConversation(tok, FT, [
      { role: 'system', content: sys },
      { role: 'user', content: u1 },
      { role: 'assistant', content: a1 },
      { role: 'user', content: u2 },
      { role: 'assistant', content: a2 },
    ]);
    const parts: [number[], number][] = [
      [[1], 0],
      [AI, 0],
      [spm(sys), 1], // a non-user role: treated as the assistant, so labelled
      [USER, 0],
      [spm(u1), 0],
      [AI, 0],
      [spm(a1), 1],
      [USER, 0],
      [spm(u2), 0],
      [AI, 0],
      [spm(a2), 1],
      [[2], 1],
    ];
    expect(r.ids).toEqual(parts.flatMap(([ids]) => ids));
    expect(r.mask).toEqual(parts.flatMap(([ids, m]) => ids.map(() => m)));
  });

  it('labels the closing </s> even after a user message, and only once', () => {
    const r = renderConversation(tok, FT, [
      { role: 'user', content: u1 },
      { role: 'assistant', content: a1 },
      { role: 'user', content: u2 },
    ]);
    expect(r.ids).toEqual([1, ...USER, ...spm(u1), ...AI, ...spm(a1), ...USER, ...spm(u2), 2]);
    expect(r.ids.filter((i) => i === 2)).toHaveLength(1);
    expect(r.mask[r.mask.length - 1]).toBe(1);
  });

  it('supervises the same positions as the minicpm format on stripped contents', () => {
    const conv = [
      { role: 'user' as const, content: u1 },
      { role: 'assistant' as const, content: a1 },
      { role: 'user' as const, content: a2 },
      { role: 'assistant' as const, content: u1 },
    ];
    const ft = renderConversation(tok, FT, conv);
    const mc = renderConversation(tok, { kind: 'minicpm' }, conv);
    const supervised = (r: { ids: number[]; mask: number[] }) => r.ids.filter((_, i) => r.mask[i] === 1);
    expect(supervised(ft)).toEqual(supervised(mc));
    expect(ft.ids).not.toEqual(mc.ids);
  });

  it('DPO: the prompt ends with the assistant marker and the answer alone is masked', () => {
    const prompt = [{ role: 'user' as const, content: u1 }];
    expect(renderPrompt(tok, FT, prompt)).toEqual([1, ...USER, ...spm(u1), ...AI]);
    const r = renderAnswer(tok, FT, prompt, a1);
    expect(r.ids).toEqual([1, ...USER, ...spm(u1), ...AI, ...spm(a1), 2]);
    expect(r.mask).toEqual([
      ...new Array<number>(1 + 3 + spm(u1).length + 3).fill(0),
      ...spm(a1).map(() => 1),
      1,
    ]);
  });

  it('is chosen by name and refuses a vocabulary without the marker pieces', () => {
    expect(chatFormatFor('minicpm-finetune', 'llama', undefined)).toEqual(FT);
    expect(() => chatFormatFor('finetune', 'minicpm', undefined)).toThrow(AlignError);
    const other = { ...tok, idToPiece: () => 'x', vocabSize: tok.vocabSize } as unknown as typeof tok;
    expect(() => renderConversation(other, FT, [{ role: 'user', content: 'a' }])).toThrow(/MiniCPM-2B/);
  });
});
