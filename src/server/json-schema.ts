/**
 * `response_format: {"type": "json_schema"}`: the JSON Schema subset that constrained decoding
 * enforces, compiled into a small grammar tree (json-schema-prefix.ts walks it a character at a time).
 *
 * Supported: `type` object (properties, required; additionalProperties accepted — only the listed
 * properties are ever produced, which every additionalProperties setting allows), array (items), string,
 * number, integer, boolean, null, a list of types; `enum` and `const` (any JSON values); `anyOf` whose
 * branches start with different characters; nesting of all of these. Annotations (title,
 * description, default, examples, $schema, $comment) are ignored. Every other keyword (minimum,
 * pattern, format, $ref, oneOf, …) is refused with a SchemaError naming it, rather than silently not
 * enforced: output is guaranteed to validate against what was accepted. The root must be an object,
 * as OpenAI's structured outputs require.
 */

export class SchemaError extends Error {
  constructor(
    message: string,
    /** JSON pointer of the offending schema, e.g. "/properties/age". */
    readonly at: string,
  ) {
    super(`${message} (at ${at || '/'})`);
    this.name = 'SchemaError';
  }
}

export type SchemaNode =
  | { kind: 'object'; props: Map<string, SchemaNode>; required: ReadonlySet<string> }
  | { kind: 'array'; items: SchemaNode }
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'integer' }
  /** One of these serialized JSON texts (enum, const, boolean, null). */
  | { kind: 'literal'; texts: readonly string[] }
  /** Branches told apart by their first character. */
  | { kind: 'union'; branches: readonly SchemaNode[] };

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$comment', '$id']);
const BY_KIND: Record<string, readonly string[]> = {
  object: ['type', 'properties', 'required', 'additionalProperties'],
  array: ['type', 'items'],
  string: ['type'],
  number: ['type'],
  integer: ['type'],
  boolean: ['type'],
  null: ['type'],
};
const TYPES = Object.keys(BY_KIND);

/** The characters a value of `n` can start with (unions must not overlap). */
export function firstChars(n: SchemaNode): string {
  switch (n.kind) {
    case 'object':
      return '{';
    case 'array':
      return '[';
    case 'string':
      return '"';
    case 'number':
    case 'integer':
      return '-0123456789';
    case 'literal':
      return [...new Set(n.texts.map((t) => t[0]))].join('');
    case 'union':
      return n.branches.map(firstChars).join('');
  }
}

type Json = Record<string, unknown>;

/**
 * A value's JSON text with every non-ASCII character written as a \u escape: the decoder sees a
 * multi-byte character's pieces only as "some non-ASCII text" (json-constraint.ts), so exact texts
 * (property names, enum values) are matched in their ASCII spelling, which parses to the same value.
 */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compiles a JSON Schema (see the header for the subset); throws SchemaError. */
export function compileSchema(schema: unknown): SchemaNode {
  if (!isObject(schema) || schema.type !== 'object')
    throw new SchemaError('the root schema must be {"type": "object", ...}', '');
  return compile(schema, '');
}

function compile(s: unknown, at: string): SchemaNode {
  if (!isObject(s)) throw new SchemaError('a schema must be an object', at);
  if ('enum' in s || 'const' in s) {
    const values = 'enum' in s ? s.enum : [s.const];
    if (!Array.isArray(values) || values.length === 0)
      throw new SchemaError('"enum" must be a non-empty array', at);
    for (const k of Object.keys(s))
      if (k !== 'enum' && k !== 'const' && k !== 'type' && !ANNOTATIONS.has(k))
        throw new SchemaError(`"${k}" is not supported next to "enum"/"const"`, at);
    const texts = [...new Set(values.map(asciiJson))];
    if (s.type !== undefined) {
      // values must have the declared type(s); a mismatch would make the schema unsatisfiable
      const types = Array.isArray(s.type) ? s.type : [s.type];
      for (const v of values)
        if (!types.some((t) => matchesType(v, t)))
          throw new SchemaError(
            `enum value ${JSON.stringify(v)} is not of type ${JSON.stringify(s.type)}`,
            at,
          );
    }
    return { kind: 'literal', texts };
  }
  if ('anyOf' in s) {
    for (const k of Object.keys(s))
      if (k !== 'anyOf' && !ANNOTATIONS.has(k))
        throw new SchemaError(`"${k}" is not supported next to "anyOf"`, at);
    if (!Array.isArray(s.anyOf) || s.anyOf.length === 0)
      throw new SchemaError('"anyOf" must be a non-empty array', at);
    return union(
      s.anyOf.map((b, i) => compile(b, `${at}/anyOf/${i}`)),
      at,
    );
  }
  if (Array.isArray(s.type)) {
    if (s.type.length === 0) throw new SchemaError('"type" must not be an empty list', at);
    const branches = (s.type as unknown[]).map((t) => {
      if (t === 'object' || t === 'array')
        throw new SchemaError(`"${t}" in a list of types is not supported; use "anyOf"`, at);
      return compile({ ...s, type: t }, at);
    });
    return union(branches, at);
  }
  const type = s.type;
  if (typeof type !== 'string' || !TYPES.includes(type))
    throw new SchemaError(
      `every schema needs "type" (one of ${TYPES.join(', ')}), "enum", "const" or "anyOf"`,
      at,
    );
  for (const k of Object.keys(s))
    if (!BY_KIND[type].includes(k) && !ANNOTATIONS.has(k))
      throw new SchemaError(`the keyword "${k}" is not supported for type "${type}"`, at);
  switch (type) {
    case 'object':
      return object(s, at);
    case 'array':
      if (s.items === undefined) throw new SchemaError('an array schema needs "items"', at);
      return { kind: 'array', items: compile(s.items, `${at}/items`) };
    case 'boolean':
      return { kind: 'literal', texts: ['true', 'false'] };
    case 'null':
      return { kind: 'literal', texts: ['null'] };
    default:
      return { kind: type as 'string' | 'number' | 'integer' };
  }
}

function object(s: Json, at: string): SchemaNode {
  const props = new Map<string, SchemaNode>();
  if (s.properties !== undefined) {
    if (!isObject(s.properties)) throw new SchemaError('"properties" must be an object', at);
    for (const [k, v] of Object.entries(s.properties)) props.set(k, compile(v, `${at}/properties/${k}`));
  }
  const required = s.required ?? [];
  if (!Array.isArray(required) || !required.every((r) => typeof r === 'string'))
    throw new SchemaError('"required" must be an array of property names', at);
  for (const r of required)
    if (!props.has(r)) throw new SchemaError(`required property "${r}" is not in "properties"`, at);
  if (
    s.additionalProperties !== undefined &&
    typeof s.additionalProperties !== 'boolean' &&
    !isObject(s.additionalProperties)
  )
    throw new SchemaError('"additionalProperties" must be a boolean or a schema', at);
  return { kind: 'object', props, required: new Set(required) };
}

/** A union whose branches start differently (number and integer together are a number). */
function union(branches: SchemaNode[], at: string): SchemaNode {
  const flat = branches.flatMap((b) => (b.kind === 'union' ? b.branches : [b]));
  const hasNumber = flat.some((b) => b.kind === 'number');
  const kept = flat.filter((b) => !(hasNumber && b.kind === 'integer'));
  const seen = new Set<string>();
  for (const b of kept)
    for (const ch of new Set(firstChars(b))) {
      if (seen.has(ch))
        throw new SchemaError(
          `alternatives that can start with the same character ("${ch}") are not supported`,
          at,
        );
      seen.add(ch);
    }
  return kept.length === 1 ? kept[0] : { kind: 'union', branches: kept };
}

function matchesType(v: unknown, t: unknown): boolean {
  switch (t) {
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
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    default:
      return false;
  }
}
