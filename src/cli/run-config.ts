/**
 * Run configuration: one typed defaults object per command, then an optional JSON preset file, then
 * command-line overrides. Every key must exist in the defaults and keep its type; the resolved object
 * is what gets saved with checkpoints.
 */
import fs from 'node:fs';

export class RunConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunConfigError';
  }
}

type Plain = Record<string, unknown>;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function mergeChecked<T extends Plain>(defaults: T, override: Plain, source: string): T {
  const out: Plain = { ...defaults };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    if (!(k in defaults)) {
      throw new RunConfigError(
        `${source}: unknown key "${k}"; known keys: ${Object.keys(defaults).join(', ')}`,
      );
    }
    const want = typeName(defaults[k]);
    if (want !== 'null' && v !== null && typeName(v) !== want) {
      throw new RunConfigError(
        `${source}: "${k}" must be ${want} like its default (${JSON.stringify(defaults[k])}), got ${JSON.stringify(v)}`,
      );
    }
    out[k] = v;
  }
  return out as T;
}

export function resolveRunConfig<T extends Plain>(
  defaults: T,
  presetFile: string | undefined,
  cli: Plain,
): T {
  let cfg = defaults;
  if (presetFile) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(presetFile, 'utf8'));
    } catch (e) {
      throw new RunConfigError(`cannot read config file ${presetFile}: ${(e as Error).message}`);
    }
    if (typeName(json) !== 'object') throw new RunConfigError(`${presetFile} must hold a JSON object`);
    cfg = mergeChecked(cfg, json as Plain, presetFile);
  }
  return mergeChecked(cfg, cli, 'command line');
}
