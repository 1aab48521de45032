import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlignError } from '../../src/align/errors.js';
import { readConversations, readPreferences } from '../../src/align/records.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-align-records-'));
const file = (name: string, lines: unknown[] | string): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(
    f,
    typeof lines === 'string' ? lines : lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
  );
  return f;
};
const user = (content: string) => ({ role: 'user', content });
const ai = (content: string) => ({ role: 'assistant', content });

describe('SFT conversations', () => {
  it('reads JSONL (blank lines skipped) and JSON arrays alike', () => {
    const recs = [
      { messages: [user('hi'), ai('hello')] },
      { messages: [{ role: 'system', content: 's' }, user('q'), ai('a')] },
    ];
    const a = readConversations(file('a.jsonl', recs.map((r) => JSON.stringify(r)).join('\n\n')));
    const b = readConversations(file('b.json', JSON.stringify(recs)));
    expect(a).toEqual(b);
    expect(a[1].messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
  });

  it('names the file and line of a bad record', () => {
    const f = file('bad.jsonl', `${JSON.stringify({ messages: [user('q'), ai('a')] })}\n{"messages": [\n`);
    expect(() => readConversations(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2`));
    expect(() =>
      readConversations(file('role.jsonl', [{ messages: [{ role: 'bot', content: 'x' }] }])),
    ).toThrow(/role.jsonl:1: message 0 needs a role/);
    expect(() => readConversations(file('end.jsonl', [{ messages: [user('q')] }]))).toThrow(
      /end with an assistant/,
    );
    expect(() => readConversations(file('empty.jsonl', '\n'))).toThrow(AlignError);
    expect(() => readConversations(path.join(dir, 'missing.jsonl'))).toThrow(/does not exist/);
  });
});

describe('DPO preference pairs', () => {
  it('accepts plain strings and UltraFeedback-style conversations', () => {
    const pairs = readPreferences(
      file('p.jsonl', [
        { prompt: 'Why?', chosen: 'Because.', rejected: 'No.' },
        { chosen: [user('Q'), ai('good')], rejected: [user('Q'), ai('bad')] },
        { prompt: [user('Q')], chosen: [user('Q'), ai('good')], rejected: 'bad' },
      ]),
    );
    expect(pairs[0]).toEqual({ prompt: [user('Why?')], chosen: 'Because.', rejected: 'No.' });
    expect(pairs[1]).toEqual({ prompt: [user('Q')], chosen: 'good', rejected: 'bad' });
    expect(pairs[2]).toEqual(pairs[1]);
  });

  it('refuses pairs that do not share a prompt or lack an answer', () => {
    expect(() =>
      readPreferences(file('x.jsonl', [{ chosen: [user('Q'), ai('a')], rejected: [user('R'), ai('b')] }])),
    ).toThrow(/x.jsonl:1: "rejected" does not continue the same conversation/);
    expect(() => readPreferences(file('y.jsonl', [{ chosen: 'a', rejected: 'b' }]))).toThrow(/no prompt/);
    expect(() => readPreferences(file('z.jsonl', [{ prompt: 'q', chosen: ' ', rejected: 'b' }]))).toThrow(
      /must not be empty/,
    );
    expect(() =>
      readPreferences(file('w.jsonl', [{ prompt: [user('q'), ai('a')], chosen: 'a', rejected: 'b' }])),
    ).toThrow(/end with a user message/);
  });
});
