/**
 * json_schema constrained decoding at the character level (server/json-schema*.ts): the compiler
 * refuses what it does not enforce; the recognizer accepts exactly the prefixes of valid documents —
 * serialized documents of the schema (any whitespace) are accepted and complete, broken ones are
 * refused — and random walks through it (any accepted character, then the first accepted of a fixed
 * order to finish) always end in a document that an independent validator accepts.
 */
import { describe, expect, it } from 'vitest';
import { compileSchema, SchemaError } from '../../src/server/json-schema.js';
import {
  feedSchema,
  feedSchemaText,
  schemaComplete,
  schemaStart,
  type SchemaState,
} from '../../src/server/json-schema-prefix.js';
import { Rng } from '../../src/tensor/index.js';

type Schema = Record<string, unknown>;

/** Reference validator for the supported subset (independent of the compiler). */
function valid(v: unknown, s: Schema): boolean {
  if ('const' in s) return JSON.stringify(v) === JSON.stringify(s.const);
  if ('enum' in s) return (s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v));
  if ('anyOf' in s) return (s.anyOf as Schema[]).some((b) => valid(v, b));
  if (Array.isArray(s.type)) return s.type.some((t) => valid(v, { ...s, type: t }));
  switch (s.type) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v) && v.every((x) => valid(x, s.items as Schema));
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      const o = v as Record<string, unknown>;
      return (
        ((s.required ?? []) as string[]).every((k) => k in o) &&
        Object.entries(o).every(([k, x]) => k in props && valid(x, props[k]))
      );
    }
    default:
      return false;
  }
}

const PERSON: Schema = {
  type: 'object',
  title: 'person',
  properties: {
    name: { type: 'string', description: 'full name' },
    age: { type: 'integer' },
    height: { type: 'number' },
    member: { type: 'boolean' },
    role: { enum: ['admin', 'user', 'guest', 1, 10, null] },
    tags: { type: 'array', items: { type: 'string' } },
    nick: { type: ['string', 'null'] },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'integer' } },
      required: ['city'],
      additionalProperties: false,
    },
    grid: { type: 'array', items: { type: 'array', items: { type: 'number' } } },
    either: { anyOf: [{ type: 'integer' }, { type: 'object', properties: {} }, { const: 'x' }] },
    café: { type: 'boolean' },
  },
  required: ['name', 'age', 'address'],
  additionalProperties: false,
};

const state = (s: Schema) => schemaStart(compileSchema(s));
const accepts = (s: Schema, text: string) => {
  const st = feedSchemaText(state(s), text);
  return st !== null && schemaComplete(st);
};

describe('json_schema compiler', () => {
  it('refuses what it does not enforce, naming the keyword and where', () => {
    const bad: [unknown, RegExp][] = [
      [{ type: 'array', items: { type: 'string' } }, /root schema must be/],
      [{ type: 'object', properties: { a: { type: 'integer', minimum: 3 } } }, /"minimum".*\/properties\/a/],
      [{ type: 'object', properties: { a: { type: 'string', pattern: 'x+' } } }, /"pattern"/],
      [{ type: 'object', properties: { a: { $ref: '#/$defs/x' } } }, /needs "type"/],
      [{ type: 'object', properties: { a: { oneOf: [] } } }, /needs "type"/],
      [{ type: 'object', required: ['b'], properties: {} }, /required property "b"/],
      [{ type: 'object', properties: { a: { enum: [] } } }, /non-empty/],
      [{ type: 'object', properties: { a: { type: 'string', enum: [1] } } }, /not of type/],
      [
        { type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { enum: ['x'] }] } } },
        /same character/,
      ],
      [{ type: 'object', properties: { a: { type: 'array' } } }, /needs "items"/],
    ];
    for (const [s, re] of bad) {
      let err: unknown;
      try {
        compileSchema(s);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(s)).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('json_schema recognizer', () => {
  it('accepts serialized documents with any whitespace, and completes on the closing brace', () => {
    const doc = {
      name: 'Ada "the" Countess\n',
      age: -36,
      height: 1.65,
      member: true,
      role: 10,
      tags: ['a', '\u00e9\\'],
      nick: null,
      address: { city: 'London', zip: 0 },
      grid: [[], [1, -2.5e3]],
      either: {},
      café: false,
    };
    // property names and enum strings are matched in their ASCII spelling (\u escapes), which the
    // decoder can always spell; free strings take any character
    const ascii = (t: string) => t.replace('"café"', '"caf\\u00e9"');
    expect(accepts(PERSON, ascii(JSON.stringify(doc)))).toBe(true);
    expect(accepts(PERSON, ascii(JSON.stringify(doc, null, 1)))).toBe(true);
    expect(accepts(PERSON, JSON.stringify(doc))).toBe(false);
    for (const role of ['"admin"', '1', 'null'])
      expect(accepts(PERSON, `{"role":${role},"name":"x","address":{"city":""},"age":7}`)).toBe(true);
    for (const either of ['5', '"x"', '{ }'])
      expect(accepts(PERSON, `{"name":"x","address":{"city":""},"age":7,"either":${either}}`)).toBe(true);
    // a prefix is not complete
    const st = feedSchemaText(state(PERSON), '{"name":"x","address":{"city":""},"age":7');
    expect(st && schemaComplete(st)).toBe(false);
    expect(
      feedSchema(feedSchemaText(state(PERSON), '{"name":"x","address":{"city":""},"age":7}')!, ' '),
    ).toBeNull();
  });

  it('refuses what the schema does not allow', () => {
    const ok = '"name":"x","address":{"city":"c"}';
    const refused = [
      `{${ok}}`, // age is required
      `{${ok},"age":1.5}`, // integer
      `{${ok},"age":1e3}`,
      `{${ok},"age":"1"}`,
      `{${ok},"age":1,"extra":1}`, // not a property
      `{${ok},"age":1,"name":"y"}`, // twice
      `{${ok},"age":1,}`, // trailing comma
      `{${ok},"age":01}`,
      `{${ok},"age":1,"role":"root"}`, // not in the enum
      `{${ok},"age":1,"role":100}`,
      `{${ok},"age":1,"tags":["a",]}`,
      `{${ok},"age":1,"tags":[1]}`,
      `{${ok},"age":1,"member":tru}`,
      `{${ok},"age":1,"nick":[]}`,
      `{"name":"x","address":{"zip":1},"age":1}`, // nested required
      `{${ok},"age":1,"either":"y"}`,
      `{${ok},"age":1} {`,
      `[]`,
      `{"name":"a\u0001"}`,
      `{"name":"\\x"}`,
      `{         "name":"x"}`, // more than 8 whitespace characters in a row
    ];
    for (const t of refused) expect(accepts(PERSON, t), t).toBe(false);
  });

  it('random walks always end in a valid document', () => {
    const rng = new Rng(3);
    const alphabet = [...'{}[]",:.-+eE0123456789 \ntrufalsn\\/bxyzABC'];
    // to finish: close what is open first, then anything that fits
    const finish = [...'"}],0e:truefalsnABCxyz0123456789[{- \\/b'];
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
    for (let walk = 0; walk < 150; walk++) {
      let s: SchemaState = state(PERSON);
      let text = '';
      for (let step = 0; !schemaComplete(s); step++) {
        expect(step, text).toBeLessThan(5000);
        let next: [string, SchemaState] | null = null;
        if (step < 60 + rng.int(200)) {
          const options = alphabet.flatMap((ch) => {
            const n = feedSchema(s, ch);
            return n ? [[ch, n] as [string, SchemaState]] : [];
          });
          if (options.length) next = options[rng.int(options.length)];
        }
        for (const ch of [...finish, ...printable]) {
          if (next) break;
          const n = feedSchema(s, ch);
          if (n) next = [ch, n];
        }
        expect(next, `stuck after ${JSON.stringify(text)}`).not.toBeNull();
        text += next![0];
        s = next![1];
      }
      const v = JSON.parse(text) as unknown;
      expect(valid(v, PERSON), text).toBe(true);
    }
  });
});
