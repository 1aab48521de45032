/** The JSON prefix recognizer: every prefix of valid JSON is accepted, invalid text fails where it breaks. */
import { describe, expect, it } from 'vitest';
import { feed, feedText, isComplete, jsonStart } from '../../src/server/json-prefix.js';

describe('JSON prefix recognizer', () => {
  const valid = [
    '{}',
    '{"a": 1}',
    '{"a": [1, -2.5e+3, 0, 0.25, true, false, null], "b": {"c": "x\\"y\\\\z\\u00e9"}}',
    '{\n  "nested": [[], {}, [{"k": "v"}]],\n  "n": -0\n}',
    '{"unicode": "床前明月光", "empty": ""}',
  ];
  it('accepts every prefix of valid JSON objects and marks only the whole as complete', () => {
    for (const text of valid) {
      expect(JSON.parse(text)).toBeTypeOf('object');
      let s = jsonStart();
      const chars = [...text];
      chars.forEach((ch, i) => {
        const next = feed(s, ch);
        expect(next, `${text} at ${i}`).not.toBeNull();
        s = next!;
        expect(isComplete(s)).toBe(i === chars.length - 1);
      });
      expect(feed(s, 'x')).toBeNull(); // nothing may follow
    }
  });

  it('rejects text no JSON object starts with, at the first bad character', () => {
    const cases: [string, number][] = [
      ['[1]', 0], // json_object: the top level is an object
      ['{"a" 1}', 5],
      ['{"a": 01}', 7],
      ['{"a": tru}', 9],
      ['{"a": 1,}', 8],
      ['{"a": "\\q"}', 8],
      ['{"a": 1]', 7],
      ['{a: 1}', 1],
      ['{"a": -}', 7],
      ['{"a": 1.}', 8],
      ['{"a": "line\nbreak"}', 11],
    ];
    for (const [text, at] of cases) {
      expect(feedText(jsonStart(), text.slice(0, at)), text).not.toBeNull();
      expect(feedText(jsonStart(), text.slice(0, at + 1)), text).toBeNull();
    }
  });

  it('bounds runs of whitespace; top-level scalars when objects are not required', () => {
    expect(feedText(jsonStart(), ' '.repeat(16) + '{')).not.toBeNull();
    expect(feedText(jsonStart(), ' '.repeat(17))).toBeNull();
    const n = feedText(jsonStart(false), '12.5');
    expect(n && isComplete(n)).toBe(true);
  });
});
