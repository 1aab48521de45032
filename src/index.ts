/** minicpm: the MiniCPM system in TypeScript. Importing the package installs the best CPU backend. */
import { useBackend } from './backends/index.js';

export * from './tensor/index.js';
export { useBackend, refBackend, nativeBackend, type BackendChoice } from './backends/index.js';
export { KernelMemoryError } from './backends/kernel-errors.js';
export {
  configFromHF,
  configToHF,
  multipliers,
  widthMultiplier,
  type MiniCPMConfig,
} from './models/config.js';
export { MiniCPM, parameterShapes } from './models/minicpm.js';
export { KVCache } from './models/kv-cache.js';
export { presetConfig, presetNames, nonEmbeddingParams } from './models/presets.js';
export { loadModel, saveModel } from './models/load.js';
export { generate, generateAll, type GenerateOptions } from './engine/generate.js';
export { Sampler, type SamplerOptions } from './engine/sampler.js';
export { AdamW, muPGroups } from './train/optimizer.js';
export { lrAt, type ScheduleSpec } from './train/schedules.js';
export { runTraining } from './train/trainer.js';
export { ValidationSet, validate } from './train/validation.js';
export { LoraAdapters, LoraError, parseLoraSpec, type LoraConfig } from './nn/lora.js';
export { initLora, loadAdapter, mergeLora, saveAdapter } from './align/lora.js';

useBackend('auto');
