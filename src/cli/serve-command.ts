/** `minicpm serve`: an OpenAI-compatible HTTP API (server/) over one model folder. */
import path from 'node:path';
import type { Command } from 'commander';
import { loadAnyModel } from '../quant/index.js';
import { applyHeadDtype } from '../quant/int8-head.js';
import { KV_CACHE_FLAG, KV_CACHE_HELP, kvCacheOption } from './kv-cache-option.js';
import { KVCache } from '../models/kv-cache.js';
import { buildServer } from '../server/app.js';
import { GenerationService } from '../server/generation-service.js';
import { loadAdapter } from '../align/lora.js';
import { ADAPTER_HELP } from './adapter-option.js';
import { loadModelTokenizer } from './model-tokenizer.js';
import { loadMiniCPMV } from '../models/minicpmv-load.js';
import { loadVlmAdapter } from '../align/vlm-lora.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { isVisionFolder } from './vision-inference.js';

interface ServeOptions {
  model: string;
  host: string;
  port: string;
  dtype: string;
  kvCache: string;
  name?: string;
  adapter?: string;
  headDtype?: string;
  parallel: string;
  prefillChunk: string;
  kvBudget?: string;
  maxQueue: string;
  prefixCache: boolean;
  apiKey?: string;
  maxBodyBytes: string;
  maxPromptTokens?: string;
  maxTokensLimit?: string;
  allowImageUrls?: boolean;
  maxImages: string;
}

/** A whole number from a flag, or a clear error naming the flag. */
function count(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions)')
    .requiredOption('--model <dir>', 'Hugging Face folder with its tokenizer')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port', '8080')
    .option('--dtype <f32|bf16>', 'keep 2-D weights in bf16 (half the memory, faster decoding)', 'f32')
    .option(KV_CACHE_FLAG, KV_CACHE_HELP, 'f32')
    .option('--name <id>', 'model id reported by /v1/models (default: the folder name)')
    .option('--adapter <dir>', ADAPTER_HELP)
    .option('--head-dtype <float|int8>', 'LM head (and tied embedding) as int8 rows', 'float')
    .option('--parallel <n>', 'sequences decoded together (continuous batching slots)', '4')
    .option('--prefill-chunk <n>', 'prompt tokens prefilled per step, interleaved with decoding', '256')
    .option(
      '--kv-budget <n>',
      'KV positions for all slots and the prefix cache (default: parallel × context)',
    )
    .option('--max-queue <n>', 'requests waiting for a slot before new ones get 503', '64')
    .option('--no-prefix-cache', "do not reuse finished prompts' KV for shared prefixes")
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1 routes (or MINICPM_API_KEY)')
    .option('--max-body-bytes <n>', 'largest request body (413 above)', String(16 << 20))
    .option('--max-prompt-tokens <n>', 'longest prompt accepted (default: the context)')
    .option('--max-tokens-limit <n>', 'largest max_tokens accepted (default: the context)')
    .option('--allow-image-urls', 'MiniCPM-V: fetch http(s) image URLs (default: only inline data: URLs)')
    .option('--max-images <n>', 'MiniCPM-V: images per chat request', '8')
    .action(async (o: ServeOptions) => {
      const scheduling = {
        parallel: count('--parallel', o.parallel, 1),
        prefillChunk: count('--prefill-chunk', o.prefillChunk, 2),
        kvBudget: o.kvBudget === undefined ? undefined : count('--kv-budget', o.kvBudget, 2),
        maxQueue: count('--max-queue', o.maxQueue, 0),
        prefixCache: o.prefixCache,
      };
      const kvCache = kvCacheOption(o.kvCache);
      const weightDtype = o.dtype === 'bf16' ? 'bf16' : 'f32';
      // a MiniCPM-V folder serves its language model, with image parts going through its tower
      let vlm: MiniCPMV | null = null;
      let model: MiniCPM;
      if (await isVisionFolder(o.model)) {
        vlm = await loadMiniCPMV(o.model, { weightDtype });
        if (o.adapter) loadVlmAdapter(o.adapter, vlm);
        model = vlm.llm;
      } else {
        model = await loadAnyModel(o.model, { weightDtype });
        if (o.adapter) loadAdapter(o.adapter, model);
      }
      applyHeadDtype(model, o.headDtype ?? 'float');
      const loaded = loadModelTokenizer(o.model);
      const name = o.name ?? path.basename(path.resolve(o.model));
      const service = new GenerationService(model, loaded.tokenizer, name, {
        chatTemplate: loaded.chatTemplate,
        kvDtype: kvCache,
        ...scheduling,
      });
      const app = buildServer(service, {
        apiKey: o.apiKey ?? process.env.MINICPM_API_KEY,
        maxBodyBytes: count('--max-body-bytes', o.maxBodyBytes, 1024),
        maxPromptTokens:
          o.maxPromptTokens === undefined ? undefined : count('--max-prompt-tokens', o.maxPromptTokens, 1),
        maxTokens:
          o.maxTokensLimit === undefined ? undefined : count('--max-tokens-limit', o.maxTokensLimit, 1),
        images: vlm
          ? { model: vlm, allowRemote: !!o.allowImageUrls, maxImages: count('--max-images', o.maxImages, 1) }
          : undefined,
      });
      const url = await app.listen({ host: o.host, port: Number(o.port) });
      console.log(`serving ${name} at ${url}/v1`);
      const c = model.config;
      const kvBytes = KVCache.bytesPerPosition(kvCache, c.numLayers, c.numKvHeads, c.headDim);
      const budget = service.scheduler.kvBudget;
      console.log(
        `KV cache ${kvCache}: ${(kvBytes / 1024).toFixed(1)} KiB per position, ` +
          `${budget} positions budgeted (${((kvBytes * budget) / 2 ** 20).toFixed(0)} MiB at most)`,
      );
      // graceful: refuse new requests (503), let running ones finish, then exit
      const stop = () => void Promise.all([service.close(), app.close()]).then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
