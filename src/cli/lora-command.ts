/** `minicpm lora merge`: a PEFT LoRA adapter folded into its base model, written as a plain model folder. */
import type { Command } from 'commander';
import { loadAdapter, mergeLora } from '../align/lora.js';
import { loadModel, saveModel } from '../models/load.js';

export async function loraMergeCommand(o: { model: string; adapter: string; out: string }): Promise<void> {
  const model = await loadModel(o.model);
  const adapters = loadAdapter(o.adapter, model);
  mergeLora(model, adapters);
  await saveModel(o.out, model, { tokenizerFrom: o.model });
  console.log(
    JSON.stringify({
      out: o.out,
      merged_modules: adapters.modules.size,
      r: adapters.config.r,
      scaling: adapters.scaling,
    }),
  );
}

export function registerLoraCommands(program: Command): void {
  const lora = program.command('lora').description('LoRA adapters (PEFT format)');
  lora
    .command('merge')
    .description('fold an adapter into its base model (W += alpha/r · B·A) and write a plain model folder')
    .requiredOption('--model <dir>', 'the base model folder the adapter was trained on')
    .requiredOption('--adapter <dir>', 'adapter folder (adapter_config.json + adapter_model.safetensors)')
    .requiredOption('--out <dir>', 'output model folder (weights in f32, with the base folder’s tokenizer)')
    .action(loraMergeCommand);
}
