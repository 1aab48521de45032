/** Hugging Face folders ↔ MiniCPM models (config.json + weights in any format io/ reads). */
import { openWeights, readConfig, readGenerationConfig, saveFolder } from '../io/hf-folder.js';
import type { TensorReader } from '../io/tensor-source.js';
import { configFromHF, configToHF } from './config.js';
import { MiniCPM } from './minicpm.js';
import { assertSane, loadParameters, tensorToRecord, type LoadOptions } from './weights.js';

/** `open` reads the folder's tensors (default io's openWeights; e.g. a dequantizing view of a GPTQ folder). */
export async function loadModel(
  dir: string,
  opts: LoadOptions = {},
  open: (dir: string) => Promise<TensorReader> = openWeights,
): Promise<MiniCPM> {
  const config = configFromHF(await readConfig(dir));
  assertSane(config);
  const reader = await open(dir);
  try {
    return loadParameters(config, reader, opts);
  } finally {
    await reader.close();
  }
}

/** Writes `model` as a Hugging Face folder that loadModel reads back identically. */
export async function saveModel(
  dir: string,
  model: MiniCPM,
  opts: { tokenizerFrom?: string; generationConfig?: Record<string, unknown> } = {},
): Promise<void> {
  const generationConfig = opts.generationConfig ??
    (opts.tokenizerFrom ? await readGenerationConfig(opts.tokenizerFrom) : undefined) ?? {
      bos_token_id: model.config.bosTokenId,
      eos_token_id: model.config.eosTokenId,
    };
  await saveFolder(dir, {
    config: configToHF(model.config),
    generationConfig,
    tensors: [...model.params].map(([name, t]) => tensorToRecord(name, t)),
    tokenizerFrom: opts.tokenizerFrom,
  });
}
