/** `minicpm import-llama2c`: a llama2.c model.bin as a Hugging Face Llama folder the other commands load. */
import path from 'node:path';
import type { Command } from 'commander';
import { readLlama2c, saveFolder } from '../io/index.js';

export function registerImportCommand(program: Command): void {
  program
    .command('import-llama2c')
    .description("convert a llama2.c checkpoint (Karpathy's model.bin) to a Hugging Face Llama folder")
    .requiredOption('--input <file>', 'llama2.c model .bin')
    .requiredOption('--out <dir>', 'output folder (config.json + model.safetensors)')
    .action(async (o: { input: string; out: string }) => {
      const ckpt = readLlama2c(o.input);
      await saveFolder(o.out, {
        config: ckpt.config,
        generationConfig: { bos_token_id: 1, eos_token_id: 2 },
        tensors: ckpt.tensors,
      });
      const h = ckpt.header;
      console.log(
        `llama2.c model (dim ${h.dim}, ${h.numLayers} layers, ${h.numHeads}/${h.numKvHeads} heads, vocab ${h.vocabSize}) ` +
          `→ ${path.resolve(o.out)} (no tokenizer: llama2.c keeps it in a separate tokenizer.bin)`,
      );
    });
}
