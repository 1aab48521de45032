/** `minicpm serve`: an OpenAI-compatible HTTP API (server/) over one model folder. */
import path from 'node:path';
import type { Command } from 'commander';
import { loadAnyModel } from '../quant/index.js';
import { kvCacheOption } from './model-commands.js';
import { buildServer } from '../server/app.js';
import { GenerationService } from '../server/generation-service.js';
import { loadAdapter } from '../align/lora.js';
import { ADAPTER_HELP } from './lora-command.js';
import { loadModelTokenizer } from './model-tokenizer.js';

interface ServeOptions {
  model: string;
  host: string;
  port: string;
  dtype: string;
  kvCache: string;
  name?: string;
  adapter?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions)')
    .requiredOption('--model <dir>', 'Hugging Face folder with its tokenizer')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port', '8080')
    .option('--dtype <f32|bf16>', 'keep 2-D weights in bf16 (half the memory, faster decoding)', 'f32')
    .option(
      '--kv-cache <f32|bf16>',
      'KV cache storage (bf16 halves its memory and decode attention reads)',
      'f32',
    )
    .option('--name <id>', 'model id reported by /v1/models (default: the folder name)')
    .option('--adapter <dir>', ADAPTER_HELP)
    .action(async (o: ServeOptions) => {
      const kvCache = kvCacheOption(o.kvCache);
      const model = await loadAnyModel(o.model, { weightDtype: o.dtype === 'bf16' ? 'bf16' : 'f32' });
      if (o.adapter) loadAdapter(o.adapter, model);
      const loaded = loadModelTokenizer(o.model);
      const name = o.name ?? path.basename(path.resolve(o.model));
      const app = buildServer(
        new GenerationService(model, loaded.tokenizer, name, loaded.chatTemplate, kvCache),
      );
      const url = await app.listen({ host: o.host, port: Number(o.port) });
      console.log(`serving ${name} at ${url}/v1`);
      const stop = () => void app.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
