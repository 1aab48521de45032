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
  // A content's ids are SentencePiece's ids of " " + content (the fast tokenizer prepends ▁), so the
  // contents are those whose " "-prefixed text has a SentencePiece reference; they keep their whitespace.
  const enc = (content: string) => (content === '' ? [] : spm(` ${content}`));
  const sys = 'Hello  world\n';
  const u1 = '  leading spaces';
  const a1 = ' ';
  const u2 = '';
  const a2 = 'Hello  world\n';

  it('the fixed marker ids are the pieces ▁< 用户 > and ▁< AI >, the prefixed encoding of the markers', () => {
    expect(USER.map((i) => tok.idToPiece(i))).toEqual(['▁<', '用户', '>']);
    expect(AI.map((i) => tok.idToPiece(i))).toEqual(['▁<', 'AI', '>']);
    expect(tok.encode(' <用户>')).toEqual(USER);
    expect(tok.encode(' <AI>')).toEqual(AI);
    // encoding the markers as text, which is what the minicpm format does, gives other ids
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
      [enc(sys), 1], // a non-user role: treated as the assistant, so labelled
      [USER, 0],
      [enc(u1), 0],
      [AI, 0],
      [enc(a1), 1],
      [USER, 0],
      [enc(u2), 0],
      [AI, 0],
      [enc(a2), 1],
      [[2], 1],
    ];
    expect(r.ids).toEqual(parts.flatMap(([ids]) => ids));
    expect(r.mask).toEqual(parts.flatMap(([ids, m]) => ids.map(() => m)));
    expect(enc(a1)).toEqual([1345]); // ' ' + ' ' = '▁▁': unstripped
  });

  it('labels the closing </s> even after a user message, and only once', () => {
    const r = renderConversation(tok, FT, [
      { role: 'user', content: u1 },
      { role: 'assistant', content: a2 },
      { role: 'user', content: sys },
    ]);
    expect(r.ids).toEqual([1, ...USER, ...enc(u1), ...AI, ...enc(a2), ...USER, ...enc(sys), 2]);
    expect(r.ids.filter((i) => i === 2)).toHaveLength(1);
    expect(r.mask[r.mask.length - 1]).toBe(1);
  });

  it('supervises the assistant contents, as the script logs them decoded', () => {
    const r = renderConversation(tok, FT, [
      { role: 'user', content: '请判断下边两个句子的关系' },
      { role: 'assistant', content: 'entailment' },
    ]);
    const supervised = r.ids.filter((_, i) => r.mask[i] === 1);
    expect(tok.decode(supervised, { skipSpecial: false })).toBe(' entailment</s>');
    expect(tok.decode(r.ids, { skipSpecial: false })).toBe(
      '<s> <用户> 请判断下边两个句子的关系 <AI> entailment</s>',
    );
  });

  it('DPO: the prompt ends with the assistant marker and the answer alone is masked', () => {
    const prompt = [{ role: 'user' as const, content: u1 }];
    expect(renderPrompt(tok, FT, prompt)).toEqual([1, ...USER, ...enc(u1), ...AI]);
    const r = renderAnswer(tok, FT, prompt, a2);
    expect(r.ids).toEqual([1, ...USER, ...enc(u1), ...AI, ...enc(a2), 2]);
    expect(r.mask).toEqual([
      ...new Array<number>(1 + 3 + enc(u1).length + 3).fill(0),
      ...enc(a2).map(() => 1),
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
