/**
 * Checked access to the fields of parsed JSON rows: a missing or mistyped field is an EvalError naming the
 * row (`file:line`) and the field, instead of an `undefined` that surfaces later as a wrong score.
 */
import { EvalError } from '../errors.js';

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown, where: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EvalError(`${where}: expected a JSON object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

export function getString(obj: JsonObject, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string')
    throw new EvalError(`${where}: field "${key}" should be a string, got ${describe(v)}`);
  return v;
}

export function getInt(obj: JsonObject, key: string, where: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new EvalError(`${where}: field "${key}" should be an integer, got ${describe(v)}`);
  }
  return v;
}

export function getArray(obj: JsonObject, key: string, where: string): unknown[] {
  const v = obj[key];
  if (!Array.isArray(v))
    throw new EvalError(`${where}: field "${key}" should be an array, got ${describe(v)}`);
  return v;
}

export function getStringArray(obj: JsonObject, key: string, where: string): string[] {
  return getArray(obj, key, where).map((v, i) => {
    if (typeof v !== 'string')
      throw new EvalError(`${where}: ${key}[${i}] should be a string, got ${describe(v)}`);
    return v;
  });
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
