/**
 * A recognizer of prefixes of JSON texts that validate against a compiled schema (json-schema.ts), one
 * character at a time: `feedSchema` answers whether the text so far can still be completed into a
 * valid document, `schemaComplete` whether it is one. Every state it accepts can be completed (a
 * required property is never skipped, a comma only comes when a property is left to write, the
 * whitespace between tokens is bounded), so constrained decoding cannot paint itself into a corner.
 * Objects are written with their listed properties only, each at most once, in any order.
 * States are immutable: trying a character costs a copy of the innermost frame.
 */
import type { SchemaNode } from './json-schema.js';
import { asciiJson, firstChars } from './json-schema.js';

type ObjectNode = Extract<SchemaNode, { kind: 'object' }>;
type ArrayNode = Extract<SchemaNode, { kind: 'array' }>;
type Num = '-' | '0' | 'int' | '.' | 'frac' | 'e' | 'esign' | 'exp';

type Frame =
  /** A value of `node` must start. */
  | { t: 'value'; node: SchemaNode }
  /** open: after '{'; key: after ','; colon: after a key; after: after a value. */
  | { t: 'obj'; node: ObjectNode; used: readonly string[]; phase: 'open' | 'key' | 'colon' | 'after' }
  | { t: 'arr'; node: ArrayNode; phase: 'open' | 'after' }
  /** hex: digits of a \u escape still due; esc: after a backslash. */
  | { t: 'str'; esc: boolean; hex: number }
  | { t: 'num'; int: boolean; num: Num }
  /** One of `texts` (serialized JSON), `pos` characters matched; `key`: an object's property name. */
  | { t: 'lit'; texts: readonly string[]; pos: number; key: boolean };

export interface SchemaState {
  readonly frames: readonly Frame[];
  /** Consecutive whitespace characters. */
  readonly ws: number;
  readonly done: boolean;
}

const MAX_WS = 8;
const isWs = (ch: string) => ch === ' ' || ch === '\n' || ch === '\t' || ch === '\r';
const isDigit = (ch: string) => ch >= '0' && ch <= '9';
const isHex = (ch: string) => isDigit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
const NUMBER_ENDS = new Set<Num>(['0', 'int', 'frac', 'exp']);

export function schemaStart(root: SchemaNode): SchemaState {
  return { frames: [{ t: 'value', node: root }], ws: 0, done: false };
}

export function schemaComplete(s: SchemaState): boolean {
  return s.done;
}

const withTop = (s: SchemaState, top: Frame, push?: Frame): SchemaState => ({
  frames: push ? [...s.frames.slice(0, -1), top, push] : [...s.frames.slice(0, -1), top],
  ws: 0,
  done: false,
});

/** The innermost frame is finished: drop it and tell its container. */
function closeValue(s: SchemaState): SchemaState {
  const frames = s.frames.slice(0, -1);
  return { frames, ws: 0, done: frames.length === 0 };
}

function unusedKeys(o: Extract<Frame, { t: 'obj' }>): string[] {
  return [...o.node.props.keys()].filter((k) => !o.used.includes(k)).map(asciiJson);
}

/** A key's literal matched in full: the object now wants a colon. */
function keyDone(s: SchemaState, text: string): SchemaState {
  const frames = s.frames.slice(0, -1);
  const o = frames[frames.length - 1] as Extract<Frame, { t: 'obj' }>;
  frames[frames.length - 1] = { ...o, used: [...o.used, JSON.parse(text) as string], phase: 'colon' };
  return { frames, ws: 0, done: false };
}

/** Replaces the innermost frame (a value slot) by the value `ch` starts, or null. */
function startValue(s: SchemaState, node: SchemaNode, ch: string): SchemaState | null {
  switch (node.kind) {
    case 'object':
      return ch === '{' ? withTop(s, { t: 'obj', node, used: [], phase: 'open' }) : null;
    case 'array':
      return ch === '[' ? withTop(s, { t: 'arr', node, phase: 'open' }) : null;
    case 'string':
      return ch === '"' ? withTop(s, { t: 'str', esc: false, hex: 0 }) : null;
    case 'number':
    case 'integer': {
      const int = node.kind === 'integer';
      if (ch === '-') return withTop(s, { t: 'num', int, num: '-' });
      if (ch === '0') return withTop(s, { t: 'num', int, num: '0' });
      return isDigit(ch) ? withTop(s, { t: 'num', int, num: 'int' }) : null;
    }
    case 'literal':
      return literalStep(withTop(s, { t: 'lit', texts: node.texts, pos: 0, key: false }), ch);
    case 'union': {
      const branch = node.branches.find((b) => firstChars(b).includes(ch));
      return branch ? startValue(s, branch, ch) : null;
    }
  }
}

function literalStep(s: SchemaState, ch: string): SchemaState | null {
  const f = s.frames[s.frames.length - 1] as Extract<Frame, { t: 'lit' }>;
  const texts = f.texts.filter((t) => t[f.pos] === ch);
  if (texts.length === 0) {
    // a shorter alternative ended here (enum 1 and 10: "1," ends the 1); the character is the container's
    const ended = f.texts.find((t) => t.length === f.pos);
    return ended !== undefined && !f.key ? feedSchema(closeValue(s), ch) : null;
  }
  const pos = f.pos + 1;
  if (texts.every((t) => t.length === pos)) return f.key ? keyDone(s, texts[0]) : closeValue(s);
  return withTop(s, { ...f, texts, pos });
}

function numberStep(f: Extract<Frame, { t: 'num' }>, ch: string): Num | null {
  const d = isDigit(ch);
  const exp = !f.int && (ch === 'e' || ch === 'E');
  const dot = !f.int && ch === '.';
  switch (f.num) {
    case '-':
      return ch === '0' ? '0' : d ? 'int' : null;
    case '0':
      return dot ? '.' : exp ? 'e' : null;
    case 'int':
      return d ? 'int' : dot ? '.' : exp ? 'e' : null;
    case '.':
      return d ? 'frac' : null;
    case 'frac':
      return d ? 'frac' : exp ? 'e' : null;
    case 'e':
      return ch === '+' || ch === '-' ? 'esign' : d ? 'exp' : null;
    case 'esign':
      return d ? 'exp' : null;
    case 'exp':
      return d ? 'exp' : null;
  }
}

function whitespace(s: SchemaState): SchemaState | null {
  return s.ws < MAX_WS ? { ...s, ws: s.ws + 1 } : null;
}

/** The state after `ch`, or null when no valid document starts with the prefix plus `ch`. */
export function feedSchema(s: SchemaState, ch: string): SchemaState | null {
  if (s.done) return null;
  const f = s.frames[s.frames.length - 1];
  switch (f.t) {
    case 'value':
      return isWs(ch) ? whitespace(s) : startValue(s, f.node, ch);
    case 'obj': {
      if (isWs(ch)) return whitespace(s);
      const keyStart = () =>
        ch === '"' ? withTop(s, f, { t: 'lit', texts: unusedKeys(f), pos: 1, key: true }) : null;
      const allRequired = () => [...f.node.required].every((k) => f.used.includes(k));
      switch (f.phase) {
        case 'open':
          if (ch === '}') return allRequired() ? closeValue(s) : null;
          return unusedKeys(f).length ? keyStart() : null;
        case 'key':
          return keyStart();
        case 'colon': {
          if (ch !== ':') return null;
          const node = f.node.props.get(f.used[f.used.length - 1])!;
          return withTop(s, { ...f, phase: 'after' }, { t: 'value', node });
        }
        case 'after':
          if (ch === ',') return unusedKeys(f).length ? withTop(s, { ...f, phase: 'key' }) : null;
          return ch === '}' && allRequired() ? closeValue(s) : null;
      }
      return null;
    }
    case 'arr': {
      if (isWs(ch)) return whitespace(s);
      if (ch === ']') return closeValue(s);
      const item: Frame = { t: 'value', node: f.node.items };
      if (f.phase === 'after') return ch === ',' ? withTop(s, f, item) : null;
      // the first item starts with this character
      return feedSchema(withTop(s, { ...f, phase: 'after' }, item), ch);
    }
    case 'str':
      if (f.hex > 0) return isHex(ch) ? withTop(s, { ...f, hex: f.hex - 1 }) : null;
      if (f.esc) {
        if (ch === 'u') return withTop(s, { ...f, esc: false, hex: 4 });
        return '"\\/bfnrt'.includes(ch) ? withTop(s, { ...f, esc: false }) : null;
      }
      if (ch === '"') return closeValue(s);
      if (ch === '\\') return withTop(s, { ...f, esc: true });
      return ch.charCodeAt(0) < 0x20 ? null : s;
    case 'num': {
      const num = numberStep(f, ch);
      if (num) return withTop(s, { ...f, num });
      // the number ended; the character belongs to its container
      return NUMBER_ENDS.has(f.num) ? feedSchema(closeValue(s), ch) : null;
    }
    case 'lit':
      return literalStep(s, ch);
  }
}

/** Feeds every character of `text`; null as soon as one does not fit. */
export function feedSchemaText(s: SchemaState, text: string): SchemaState | null {
  let cur: SchemaState | null = s;
  for (const ch of text) {
    cur = feedSchema(cur, ch);
    if (!cur) return null;
  }
  return cur;
}
