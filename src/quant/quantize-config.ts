// quantize_config.json of an AutoGPTQ checkpoint: how the weights were quantized, which readers need
// (bits, group_size, desc_act, sym) and which records provenance (damp_percent, true_sequential).
// Note AutoGPTQ's naming: damp_percent is a fraction (0.01 = 1% of mean(diag H)), not a percentage.

import * as path from 'node:path';
import { writeJson } from '../io/index.js';
import { QuantFormatError } from './errors.js';
import type { GptqOptions } from './gptq-setup.js';

export interface QuantizeConfig {
  bits: number;
  group_size: number;
  damp_percent: number;
  desc_act: boolean;
  static_groups: boolean;
  sym: boolean;
  true_sequential: boolean;
  model_name_or_path: string | null;
  model_file_base_name: string | null;
  quant_method: 'gptq';
  /** gptq: qzeros hold zero − 1; gptq_v2 (GPTQModel): qzeros hold the zero itself. */
  checkpoint_format: 'gptq' | 'gptq_v2';
}

/** AutoGPTQ's BaseQuantizeConfig defaults, used for fields a file leaves out. */
const AUTOGPTQ_DEFAULTS: QuantizeConfig = {
  bits: 4,
  group_size: -1,
  damp_percent: 0.01,
  desc_act: true,
  static_groups: false,
  sym: true,
  true_sequential: true,
  model_name_or_path: null,
  model_file_base_name: null,
  quant_method: 'gptq',
  checkpoint_format: 'gptq',
};

/** MiniCPM-2B-sft-int4 (SPEC §9): 4 bits, groups of 32, act-order, asymmetric, true-sequential. */
export const MINICPM_INT4_CONFIG: Readonly<QuantizeConfig> = {
  ...AUTOGPTQ_DEFAULTS,
  group_size: 32,
  desc_act: true,
  sym: false,
};

/** The config that describes a quantization run with these GPTQ options. */
export function quantizeConfigFor(opts: GptqOptions, trueSequential = true): QuantizeConfig {
  return {
    ...AUTOGPTQ_DEFAULTS,
    bits: opts.bits ?? 4,
    group_size: opts.groupSize ?? 128,
    damp_percent: opts.damp ?? 0.01,
    desc_act: opts.actOrder ?? false,
    sym: opts.sym ?? false,
    true_sequential: trueSequential,
  };
}

/**
 * Validate a parsed quantize_config.json (or a config.json quantization_config); `source` names it in errors.
 * `gptq_v2` checkpoints are accepted only where the reader says it handles them (`acceptV2`).
 */
export function parseQuantizeConfig(
  json: unknown,
  source = 'quantize_config.json',
  acceptV2 = false,
): QuantizeConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new QuantFormatError(`${source}: expected a JSON object`);
  }
  const o = json as Record<string, unknown>;
  const fail = (key: string, want: string): never => {
    throw new QuantFormatError(`${source}: "${key}" is ${JSON.stringify(o[key])}, expected ${want}`);
  };
  const num = (key: keyof QuantizeConfig): number => {
    const v = o[key] ?? AUTOGPTQ_DEFAULTS[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : fail(key, 'a number');
  };
  // AutoGPTQ accepts 0/1 for booleans too (some writers emit "desc_act": 0).
  const bool = (key: keyof QuantizeConfig): boolean => {
    const v = o[key] ?? AUTOGPTQ_DEFAULTS[key];
    return typeof v === 'boolean' ? v : v === 0 || v === 1 ? v === 1 : fail(key, 'true or false');
  };
  const str = (key: keyof QuantizeConfig): string | null => {
    const v = o[key] ?? null;
    return v === null || typeof v === 'string' ? v : fail(key, 'a string or null');
  };
  if (!('bits' in o)) throw new QuantFormatError(`${source}: "bits" is missing`);
  if (!('group_size' in o)) throw new QuantFormatError(`${source}: "group_size" is missing`);
  const bits = num('bits');
  if (![2, 3, 4, 8].includes(bits)) fail('bits', '2, 3, 4 or 8');
  const groupSize = num('group_size');
  if (!(groupSize === -1 || (Number.isInteger(groupSize) && groupSize > 0)))
    fail('group_size', '-1 or a positive integer');
  const damp = num('damp_percent');
  if (!(damp > 0 && damp < 1)) fail('damp_percent', 'a fraction in (0, 1)');
  const method = o.quant_method ?? 'gptq';
  if (method !== 'gptq') fail('quant_method', '"gptq"');
  // gptq_v2 stores zeros without the −1 offset and marlin reorders words: both need other readers.
  const format = o.checkpoint_format ?? 'gptq';
  if (!(format === 'gptq' || (acceptV2 && format === 'gptq_v2'))) {
    fail(
      'checkpoint_format',
      acceptV2
        ? '"gptq" or "gptq_v2" (the marlin layout is not supported)'
        : '"gptq" (gptq_v2 folders run through the int4/int8 kernels: load them with loadQuantizedModel)',
    );
  }
  return {
    bits,
    group_size: groupSize,
    damp_percent: damp,
    desc_act: bool('desc_act'),
    static_groups: bool('static_groups'),
    sym: bool('sym'),
    true_sequential: bool('true_sequential'),
    model_name_or_path: str('model_name_or_path'),
    model_file_base_name: str('model_file_base_name'),
    quant_method: 'gptq',
    checkpoint_format: format === 'gptq_v2' ? 'gptq_v2' : 'gptq',
  };
}

export function writeQuantizeConfig(dir: string, config: QuantizeConfig): Promise<void> {
  return writeJson(path.join(dir, 'quantize_config.json'), config);
}
