/**
 * LoRA on a MiniCPM model: adapters on its decoder linears (nn/lora.ts) through the model's adapter hook,
 * the base frozen, PEFT adapter folders in and out (io/peft.ts), and merging into the base weights.
 */
import { readPeftAdapter, writePeftAdapter, type PeftAdapterFiles } from '../io/peft.js';
import { recordToTensor, tensorToRecord } from '../models/weights.js';
import { parameterShapes, PROJ, type MiniCPM } from '../models/minicpm.js';
import { LoraAdapters, LoraError, type LoraConfig, type LoraPair } from '../nn/lora.js';
import { add, bf16ToF32, f32ToBf16, noGrad, Rng, Tensor } from '../tensor/index.js';

/** An adapter that does not fit the model it is put on (names or shapes). */
export class AdapterMismatchError extends LoraError {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterMismatchError';
  }
}

const LINEAR = new RegExp(`^(.+\\.(?:${PROJ.join('|')}))\\.weight$`);

/**
 * Module path → weight shape [out, in] of every decoder linear of the model, from its config: layers held
 * quantized (run by model.linearRunner, not parameters) take adapters too, for inference.
 */
export function baseLinearShapes(model: MiniCPM): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const [name, shape] of parameterShapes(model.config)) {
    const m = LINEAR.exec(name);
    if (m) out.set(m[1], shape);
  }
  return out;
}

/**
 * Puts `adapters` on `model`: every adapted module must be one of its linears with matching sizes; the
 * base parameters stop requiring gradients, so backward computes only what reaches the adapters.
 */
export function attachLora(model: MiniCPM, adapters: LoraAdapters, source = 'the adapter'): void {
  const shapes = baseLinearShapes(model);
  for (const [module, { A, B }] of adapters.modules) {
    const s = shapes.get(module);
    if (!s)
      throw new AdapterMismatchError(
        `${source} adapts ${module}, which the model does not have (it has ${model.config.numLayers} layers): use the adapter with the base model it was trained on`,
      );
    if (A.shape[1] !== s[1] || B.shape[0] !== s[0])
      throw new AdapterMismatchError(
        `${source}: ${module} is [${s.join(', ')}] in the model, but its lora_A is [${A.shape.join(', ')}] and lora_B [${B.shape.join(', ')}]: the adapter was trained on another base model`,
      );
  }
  for (const p of model.params.values()) p.requiresGrad = false;
  model.adapter = (module, x, y) => adapters.apply(module, x, y);
}

/** Fresh adapters (PEFT initialisation) on the targeted linears of `model`, attached. */
export function initLora(model: MiniCPM, config: LoraConfig, seed: number): LoraAdapters {
  const rng = new Rng(seed);
  const dtype = model.p('model.embed_tokens.weight').dtype === 'f64' ? 'f64' : 'f32';
  const adapters = LoraAdapters.init(config, baseLinearShapes(model), rng, dtype);
  attachLora(model, adapters);
  return adapters;
}

/** Adapters from PEFT files, as f32 parameters (dropout stream seeded by `seed`). */
export function adaptersFromFiles(files: PeftAdapterFiles, seed = 0): LoraAdapters {
  const modules = new Map<string, LoraPair>();
  for (const [module, { A, B }] of files.modules) {
    modules.set(module, {
      A: Tensor.parameter(recordToTensor(A), `${module}.lora_A.weight`),
      B: Tensor.parameter(recordToTensor(B), `${module}.lora_B.weight`),
    });
  }
  const short = [...new Set([...modules.keys()].map((m) => m.slice(m.lastIndexOf('.') + 1)))];
  // The files' modules are what applies; targets only records their short names.
  return new LoraAdapters({ ...files.settings, targets: short }, modules, new Rng(seed));
}

/** Reads a PEFT adapter folder and attaches it to `model`. */
export function loadAdapter(dir: string, model: MiniCPM): LoraAdapters {
  const adapters = adaptersFromFiles(readPeftAdapter(dir));
  attachLora(model, adapters, dir);
  return adapters;
}

/** Writes `adapters` as a PEFT adapter folder (`baseModel` goes to base_model_name_or_path). */
export async function saveAdapter(
  dir: string,
  adapters: LoraAdapters,
  baseModel: string | null,
): Promise<void> {
  const modules = [...adapters.modules].map(
    ([m, { A, B }]) => [m, { A: tensorToRecord(m, A), B: tensorToRecord(m, B) }] as const,
  );
  await writePeftAdapter(dir, adapters.config, modules, baseModel);
}

/**
 * Folds every adapter into its base weight (W ← W + s·B·A) and detaches them: the model then computes
 * what the adapted model did, with no adapter cost. A bf16 weight is rounded back to bf16.
 */
export function mergeLora(model: MiniCPM, adapters: LoraAdapters): void {
  attachLora(model, adapters);
  // checked before any weight changes: a merge is all or nothing
  const quantized = [...adapters.modules.keys()].find((m) => !model.params.has(`${m}.weight`));
  if (quantized)
    throw new AdapterMismatchError(
      `${quantized} is held quantized: merge the adapter into the float model, then quantize the merged folder`,
    );
  noGrad(() => {
    for (const module of adapters.modules.keys()) {
      const w = model.p(`${module}.weight`);
      const d = adapters.delta(module);
      const dd = d.data as Float32Array;
      if (w.dtype === 'bf16') {
        const bits = w.data as Uint16Array;
        for (let i = 0; i < dd.length; i++)
          bits[w.offset + i] = f32ToBf16(bf16ToF32(bits[w.offset + i]) + dd[i]);
      } else {
        const sum = add(w, d);
        (w.data as Float32Array).set(sum.data, w.offset);
        sum.dispose();
      }
      d.dispose();
    }
  });
  model.adapter = null;
}

/**
 * Per-layer activation checkpointing for training `model` (MiniCPM.checkpointLayers): `on` null means on
 * exactly when LoRA adapters train, where the frozen base leaves activations as most of the memory. The
 * adapters' dropout stream is replayed for each recomputed layer, so gradients stay bit for bit the same.
 */
export function useLayerCheckpoints(model: MiniCPM, on: boolean | null, adapters?: LoraAdapters): void {
  model.checkpointLayers = (on ?? adapters !== undefined) ? { replay: adapters ? [adapters.rng] : [] } : null;
}

/** Runs `fn` on the base model: the adapters (if any) are off meanwhile (DPO's reference). */
export function withoutAdapters<T>(adapters: LoraAdapters | undefined, fn: () => T): T {
  if (!adapters) return fn();
  const was = adapters.enabled;
  adapters.enabled = false;
  try {
    return fn();
  } finally {
    adapters.enabled = was;
  }
}
