/**
 * Hugging Face PEFT LoRA adapters on disk: `adapter_config.json` + `adapter_model.safetensors`, tensors
 * named as PEFT saves a causal LM's adapters (base_model.model.<module>.lora_A.weight / lora_B.weight, the
 * adapter name stripped). Only plain LoRA on linear layers is read; every other PEFT feature is refused
 * by name rather than silently applied wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openSafetensorsSync, writeSafetensors } from './safetensors.js';
import type { TensorRecord } from './dtypes.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

export class PeftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeftError';
  }
}

/** The LoRA settings we apply (the subset of PEFT's LoraConfig that has a meaning here). */
export interface PeftLoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  rslora: boolean;
}

/** PEFT's LoraConfig as written by save_pretrained, for the settings above. */
export function peftConfigJson(s: PeftLoraSettings, baseModel: string | null): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: s.r,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: [...s.targets],
    use_rslora: s.rslora,
    use_dora: false,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    revision: null,
  };
}

const isEmpty = (v: unknown): boolean =>
  v === undefined ||
  v === null ||
  v === false ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && Object.keys(v).length === 0);

/** Settings of an adapter_config.json, refusing what we would not apply faithfully. */
export function parsePeftConfig(json: Record<string, unknown>, file = ADAPTER_CONFIG): PeftLoraSettings {
  const bad = (msg: string): never => {
    throw new PeftError(`${file}: ${msg}`);
  };
  if (json.peft_type !== 'LORA')
    bad(`peft_type is ${JSON.stringify(json.peft_type)}; only LoRA adapters ("LORA") can be loaded`);
  if (json.use_dora === true) bad('use_dora is true: DoRA adapters are not supported; train a plain LoRA');
  if (json.bias !== undefined && json.bias !== 'none')
    bad(`bias is ${JSON.stringify(json.bias)}: MiniCPM's linears have no bias, use bias "none"`);
  if (json.lora_bias === true) bad('lora_bias is true: LoRA biases are not supported');
  if (json.fan_in_fan_out === true)
    bad('fan_in_fan_out is true: that is for GPT-2 Conv1D layers, not MiniCPM');
  if (!isEmpty(json.modules_to_save))
    bad('modules_to_save is set: adapters that carry full copies of modules are not supported');
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (!isEmpty(json[k])) bad(`${k} is set: per-module ranks or alphas are not supported`);
  for (const k of ['use_alora', 'use_qalora', 'use_bdlora'])
    if (json[k] === true) bad(`${k} is true: only plain LoRA is supported`);
  const r = json.r;
  const alpha = json.lora_alpha ?? 8;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1)
    bad(`r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0))
    bad(`lora_alpha must be a positive number, got ${JSON.stringify(alpha)}`);
  const dropout = json.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    bad(`lora_dropout must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const tm = json.target_modules;
  let targets: string[];
  if (Array.isArray(tm) && tm.every((t) => typeof t === 'string')) targets = tm;
  else if (tm === 'all-linear')
    targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  else
    return bad(
      `target_modules ${JSON.stringify(tm)} is not a list of module names (a regular expression is not supported)`,
    );
  return {
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    targets,
    rslora: json.use_rslora === true,
  };
}

/** PEFT's tensor name of a module's A or B matrix. */
export function peftTensorName(module: string, which: 'A' | 'B'): string {
  return `${PREFIX}${module}.lora_${which}.weight`;
}

/** The module and matrix of a PEFT tensor name (null for a name of another shape). */
export function parsePeftTensorName(name: string): { module: string; which: 'A' | 'B' } | null {
  const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(name);
  return m ? { module: m[1], which: m[2] as 'A' | 'B' } : null;
}

export interface PeftAdapterFiles {
  settings: PeftLoraSettings;
  /** Module path → its A [r, in] and B [out, r] records. */
  modules: Map<string, { A: TensorRecord; B: TensorRecord }>;
}

/** Reads an adapter folder (or the adapter_config.json / adapter_model.safetensors beside it). */
export function readPeftAdapter(dir: string): PeftAdapterFiles {
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  const wFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(cfgFile))
    throw new PeftError(
      `${dir} has no ${ADAPTER_CONFIG}: pass the folder a LoRA run or PEFT's save_pretrained wrote`,
    );
  if (!fs.existsSync(wFile))
    throw new PeftError(
      `${dir} has no ${ADAPTER_WEIGHTS}${fs.existsSync(path.join(dir, 'adapter_model.bin')) ? ' (only adapter_model.bin: save it with safe_serialization=True)' : ''}`,
    );
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new PeftError(`${cfgFile} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new PeftError(`${cfgFile} must hold a JSON object`);
  const settings = parsePeftConfig(json as Record<string, unknown>, cfgFile);
  const f = openSafetensorsSync(wFile);
  const parts = new Map<string, { A?: TensorRecord; B?: TensorRecord }>();
  for (const name of f.names()) {
    const p = parsePeftTensorName(name);
    if (!p)
      throw new PeftError(
        `${wFile} holds "${name}", which is not a LoRA matrix (base_model.model.<module>.lora_A.weight / lora_B.weight)`,
      );
    const e = parts.get(p.module) ?? {};
    e[p.which] = f.readSync(name);
    parts.set(p.module, e);
  }
  const modules = new Map<string, { A: TensorRecord; B: TensorRecord }>();
  for (const [module, { A, B }] of parts) {
    if (!A || !B)
      throw new PeftError(`${wFile} has lora_${A ? 'A' : 'B'} of ${module} but not lora_${A ? 'B' : 'A'}`);
    if (
      A.shape.length !== 2 ||
      B.shape.length !== 2 ||
      A.shape[0] !== settings.r ||
      B.shape[1] !== settings.r
    )
      throw new PeftError(
        `${wFile}: ${module} has lora_A [${A.shape.join(', ')}] and lora_B [${B.shape.join(', ')}], not rank r=${settings.r} of adapter_config.json`,
      );
    modules.set(module, { A, B });
  }
  if (!modules.size) throw new PeftError(`${wFile} holds no LoRA matrices`);
  return { settings, modules };
}

/** Writes an adapter folder PEFT's PeftModel.from_pretrained reads. */
export async function writePeftAdapter(
  dir: string,
  settings: PeftLoraSettings,
  modules: Iterable<readonly [string, { readonly A: TensorRecord; readonly B: TensorRecord }]>,
  baseModel: string | null,
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const records: TensorRecord[] = [];
  for (const [module, { A, B }] of modules) {
    records.push({ ...A, name: peftTensorName(module, 'A') }, { ...B, name: peftTensorName(module, 'B') });
  }
  await writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), records, { format: 'pt' });
  const tmp = path.join(dir, `${ADAPTER_CONFIG}.tmp-${process.pid}`);
  fs.writeFileSync(tmp, JSON.stringify(peftConfigJson(settings, baseModel), null, 2));
  fs.renameSync(tmp, path.join(dir, ADAPTER_CONFIG));
}
