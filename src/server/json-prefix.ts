/**
 * A recognizer of JSON prefixes (RFC 8259), one character at a time: `feed` answers whether the text so
 * far can still be extended to a complete JSON value, `complete` whether it already is one. States are
 * small immutable-friendly records, so trying a character from a state costs a copy of a few fields.
 * `response_format: json_object` decoding runs every candidate token through it.
 */

type Mode =
  | 'value' // a value must start (whitespace allowed)
  | 'key-or-end' // after '{'
  | 'key' // after ',' in an object
  | 'colon' // after a key
  | 'value-or-end' // after '['
  | 'after' // after a value: ',' or a closing bracket
  | 'string'
  | 'escape'
  | 'unicode'
  | 'number'
  | 'literal'
  | 'done';

export interface JsonState {
  mode: Mode;
  /** Open containers, innermost last: 'o' object, 'a' array. */
  stack: string;
  /** In a string: it is an object key. */
  key: boolean;
  /** Hex digits still due in \uXXXX; the rest of a literal; the number's grammar state. */
  rest: string;
  num: '' | '-' | '0' | 'int' | '.' | 'frac' | 'e' | 'esign' | 'exp';
  /** Consecutive whitespace characters (bounded, so a model cannot pad forever). */
  ws: number;
}

const MAX_WS = 16;
const WS = new Set([' ', '\t', '\n', '\r']);
const DIGIT = /[0-9]/;
const HEX = /[0-9a-fA-F]/;
const NUMBER_ENDS = new Set(['0', 'int', 'frac', 'exp']);

/** The start state; `objectOnly` requires the top-level value to be an object (json_object). */
export function jsonStart(objectOnly = true): JsonState {
  return { mode: 'value', stack: objectOnly ? '^' : '', key: false, rest: '', num: '', ws: 0 };
}

export function isComplete(s: JsonState): boolean {
  return s.mode === 'done' || (s.mode === 'number' && s.stack === '' && NUMBER_ENDS.has(s.num));
}

/** A value just ended: continue in its container, or finish. */
function closeValue(s: JsonState): JsonState {
  return { ...s, mode: s.stack === '' ? 'done' : 'after', num: '', rest: '', ws: 0 };
}

function startValue(s: JsonState, ch: string): JsonState | null {
  // '^' marks a top level that must be an object
  if (s.stack === '^') return ch === '{' ? { ...s, mode: 'key-or-end', stack: 'o', ws: 0 } : null;
  switch (ch) {
    case '{':
      return { ...s, mode: 'key-or-end', stack: s.stack + 'o', ws: 0 };
    case '[':
      return { ...s, mode: 'value-or-end', stack: s.stack + 'a', ws: 0 };
    case '"':
      return { ...s, mode: 'string', key: false, ws: 0 };
    case 't':
      return { ...s, mode: 'literal', rest: 'rue', ws: 0 };
    case 'f':
      return { ...s, mode: 'literal', rest: 'alse', ws: 0 };
    case 'n':
      return { ...s, mode: 'literal', rest: 'ull', ws: 0 };
    case '-':
      return { ...s, mode: 'number', num: '-', ws: 0 };
    default:
      if (ch === '0') return { ...s, mode: 'number', num: '0', ws: 0 };
      if (DIGIT.test(ch)) return { ...s, mode: 'number', num: 'int', ws: 0 };
      return null;
  }
}

function close(s: JsonState, ch: string): JsonState | null {
  const top = s.stack[s.stack.length - 1];
  if ((ch === '}' && top === 'o') || (ch === ']' && top === 'a'))
    return closeValue({ ...s, stack: s.stack.slice(0, -1) });
  return null;
}

function whitespace(s: JsonState): JsonState | null {
  return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
}

function numberStep(s: JsonState, ch: string): JsonState | null {
  const d = DIGIT.test(ch);
  const to = (num: JsonState['num']) => ({ ...s, num });
  switch (s.num) {
    case '-':
      return ch === '0' ? to('0') : d ? to('int') : null;
    case '0':
      return ch === '.' ? to('.') : ch === 'e' || ch === 'E' ? to('e') : null;
    case 'int':
      return d ? s : ch === '.' ? to('.') : ch === 'e' || ch === 'E' ? to('e') : null;
    case '.':
      return d ? to('frac') : null;
    case 'frac':
      return d ? s : ch === 'e' || ch === 'E' ? to('e') : null;
    case 'e':
      return ch === '+' || ch === '-' ? to('esign') : d ? to('exp') : null;
    case 'esign':
      return d ? to('exp') : null;
    case 'exp':
      return d ? s : null;
    default:
      return null;
  }
}

/** The state after `ch`, or null when no JSON text starts with the prefix plus `ch`. */
export function feed(s: JsonState, ch: string): JsonState | null {
  switch (s.mode) {
    case 'value':
      return WS.has(ch) ? whitespace(s) : startValue(s, ch);
    case 'value-or-end':
      if (WS.has(ch)) return whitespace(s);
      return ch === ']' ? close(s, ch) : startValue(s, ch);
    case 'key-or-end':
      if (WS.has(ch)) return whitespace(s);
      if (ch === '}') return close(s, ch);
      return ch === '"' ? { ...s, mode: 'string', key: true, ws: 0 } : null;
    case 'key':
      if (WS.has(ch)) return whitespace(s);
      return ch === '"' ? { ...s, mode: 'string', key: true, ws: 0 } : null;
    case 'colon':
      if (WS.has(ch)) return whitespace(s);
      return ch === ':' ? { ...s, mode: 'value', ws: 0 } : null;
    case 'after':
      if (WS.has(ch)) return whitespace(s);
      if (ch === ',') return { ...s, mode: s.stack.endsWith('o') ? 'key' : 'value', ws: 0 };
      return close(s, ch);
    case 'string':
      if (ch === '"') return s.key ? { ...s, mode: 'colon', key: false } : closeValue(s);
      if (ch === '\\') return { ...s, mode: 'escape' };
      return ch.charCodeAt(0) < 0x20 ? null : s;
    case 'escape':
      if (ch === 'u') return { ...s, mode: 'unicode', rest: 'xxxx' };
      return '"\\/bfnrt'.includes(ch) ? { ...s, mode: 'string' } : null;
    case 'unicode':
      if (!HEX.test(ch)) return null;
      return s.rest.length > 1 ? { ...s, rest: s.rest.slice(1) } : { ...s, mode: 'string', rest: '' };
    case 'literal':
      if (ch !== s.rest[0]) return null;
      return s.rest.length > 1 ? { ...s, rest: s.rest.slice(1) } : closeValue(s);
    case 'number': {
      const next = numberStep(s, ch);
      if (next) return next;
      // the number ended; the character belongs to what follows
      return NUMBER_ENDS.has(s.num) && s.stack !== '' ? feed(closeValue(s), ch) : null;
    }
    case 'done':
      return null;
  }
}

/** Feeds every character of `text`; null as soon as one does not fit. */
export function feedText(s: JsonState, text: string): JsonState | null {
  let cur: JsonState | null = s;
  for (const ch of text) {
    cur = feed(cur, ch);
    if (!cur) return null;
  }
  return cur;
}
