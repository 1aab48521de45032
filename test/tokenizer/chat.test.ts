import { describe, expect, it } from 'vitest';
import { applyChatTemplate, renderChatTemplate, renderMiniCpmChat } from '../../src/tokenizer/chat.js';
import { ChatTemplateError } from '../../src/tokenizer/errors.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from './helpers.js';

// A MiniCPM-style model (no dummy prefix, byte fallback) trained here in a few milliseconds.
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 480 })),
);
const conversation = [
  { role: 'user' as const, content: '  What is 2+2? ' },
  { role: 'assistant' as const, content: ' 4 ' },
  { role: 'user' as const, content: 'And 3+3?' },
  { role: 'assistant' as const, content: '6, of course.' },
];

describe('MiniCPM chat format', () => {
  it('renders <s><用户>q<AI>a…</s> with stripped texts, each part tokenized alone', () => {
    const { ids, mask } = renderMiniCpmChat(tok, conversation);
    const enc = (s: string) => tok.encode(s);
    const expected = [
      tok.bosId,
      ...enc('<用户>'),
      ...enc('What is 2+2?'),
      ...enc('<AI>'),
      ...enc('4'),
      ...enc('<用户>'),
      ...enc('And 3+3?'),
      ...enc('<AI>'),
      ...enc('6, of course.'),
      tok.eosId,
    ];
    expect(ids).toEqual(expected);
    expect(tok.decode(ids)).toBe('<用户>What is 2+2?<AI>4<用户>And 3+3?<AI>6, of course.');
    expect(mask.length).toBe(ids.length);
  });

  it('masks exactly the assistant tokens and the closing </s>', () => {
    const { ids, mask } = renderMiniCpmChat(tok, conversation);
    const supervised = ids.filter((_, i) => mask[i] === 1);
    expect(supervised).toEqual([...tok.encode('4'), ...tok.encode('6, of course.'), tok.eosId]);
    expect(mask[0]).toBe(0);
    expect(mask[mask.length - 1]).toBe(1);
  });

  it('ends a generation prompt with <AI> and no </s>', () => {
    const { ids, mask } = renderMiniCpmChat(tok, conversation.slice(0, 3), { addGenerationPrompt: true });
    expect(ids.slice(-tok.encode('<AI>').length)).toEqual(tok.encode('<AI>'));
    expect(ids).not.toContain(tok.eosId);
    expect(mask.every((m, i) => m === 0 || ids[i] !== tok.bosId)).toBe(true);
  });

  it('rejects malformed conversations with a message', () => {
    expect(() => renderMiniCpmChat(tok, [])).toThrow(ChatTemplateError);
    expect(() => renderMiniCpmChat(tok, conversation.slice(0, 1))).toThrow(/assistant/);
    expect(() => renderMiniCpmChat(tok, [{ role: 'robot' as never, content: 'x' }])).toThrow(/role/);
  });
});

describe('Jinja chat_template', () => {
  const minicpm =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{'<用户>' + message['content'].strip() + '<AI>'}}" +
    "{% else %}{{message['content'].strip() + eos_token}}{% endif %}{% endfor %}";
  const chatml =
    "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  it('renders text with @huggingface/jinja', () => {
    expect(renderChatTemplate(chatml, conversation.slice(0, 1), { addGenerationPrompt: true })).toBe(
      '<|im_start|>user\n  What is 2+2? <|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('tokenizes the rendering with specials parsed, masking assistant text and its end-of-turn token', () => {
    const r = applyChatTemplate(tok, minicpm, conversation.slice(0, 2));
    expect(r.text).toBe('<s><用户>What is 2+2?<AI>4</s>');
    expect(r.ids[0]).toBe(tok.bosId);
    expect(r.ids[r.ids.length - 1]).toBe(tok.eosId);
    const supervised = r.ids.filter((_, i) => r.mask[i] === 1);
    expect(supervised).toEqual([...tok.encode('4'), tok.eosId]);
  });

  it('reports template errors as ChatTemplateError', () => {
    expect(() => renderChatTemplate('{% for %}', conversation)).toThrow(ChatTemplateError);
  });
});
