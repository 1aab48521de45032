/** `minicpm logits` and `minicpm generate`: thin wrappers over models/ and engine/. */
import fs from 'node:fs';
import type { Command } from 'commander';
import { generate } from '../engine/generate.js';
import { writeSafetensors } from '../io/safetensors.js';
import { loadAnyModel } from '../quant/index.js';
import { applyHeadDtype } from '../quant/int8-head.js';
import { loadAdapter } from '../align/lora.js';
import { ADAPTER_HELP } from './adapter-option.js';
import { loadModelTokenizer } from './model-tokenizer.js';
import { isVisionFolder, visionGenerateCommand, visionLogitsCommand } from './vision-inference.js';
import { KV_CACHE_FLAG, KV_CACHE_HELP, kvCacheOption } from './kv-cache-option.js';
import { KVCache } from '../models/kv-cache.js';
import { crossEntropy, noGrad, reshape, Tensor } from '../tensor/index.js';

class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

function idsMatrix(json: unknown, what: string): number[][] {
  if (
    !Array.isArray(json) ||
    !json.length ||
    !json.every(
      (r) => Array.isArray(r) && r.length === (json[0] as unknown[]).length && r.every(Number.isInteger),
    )
  ) {
    throw new CliError(`${what} must be a non-empty [B][T] array of integer ids with rows of equal length`);
  }
  return json as number[][];
}

export async function logitsCommand(o: {
  model: string;
  input: string;
  output: string;
  adapter?: string;
  kvCache?: string;
}): Promise<void> {
  const kvDtype = kvCacheOption(o.kvCache ?? 'f32');
  const input = JSON.parse(fs.readFileSync(o.input, 'utf8')) as { inputs?: unknown; targets?: unknown };
  const inputs = idsMatrix(input.inputs, `${o.input} "inputs"`);
  const { image } = o as { image?: string[] };
  if (image?.length || (await isVisionFolder(o.model))) {
    const targets =
      input.targets === undefined ? undefined : idsMatrix(input.targets, `${o.input} "targets"`);
    return visionLogitsCommand({
      model: o.model,
      inputs,
      targets,
      image,
      output: o.output,
      adapter: o.adapter,
    });
  }
  const model = await loadAnyModel(o.model);
  if (o.adapter) loadAdapter(o.adapter, model);
  const [B, T] = [inputs.length, inputs[0].length];
  const c = model.config;
  // --kv-cache other than f32: one prefill through that cache, so attention reads the stored keys and
  // values as decoding would (an int8 cache quantizes each position as it is appended)
  const cache =
    kvDtype === 'f32' ? undefined : new KVCache(c.numLayers, B, c.numKvHeads, c.headDim, T, kvDtype);
  const logits = noGrad(() =>
    model.forward(Tensor.from(Int32Array.from(inputs.flat()), [B, T], 'i32'), cache),
  );
  cache?.dispose();
  const f = logits.data as Float32Array;
  await writeSafetensors(o.output, [
    {
      name: 'logits',
      dtype: 'F32',
      shape: [B, T, model.config.vocabSize],
      data: new Uint8Array(f.buffer, f.byteOffset, logits.size * 4),
    },
  ]);
  if (input.targets !== undefined) {
    const targets = idsMatrix(input.targets, `${o.input} "targets"`);
    if (targets.length !== B || targets[0].length !== T)
      throw new CliError('"targets" must have the shape of "inputs"');
    const loss = noGrad(() =>
      crossEntropy(
        reshape(logits, [-1, model.config.vocabSize]),
        Tensor.from(Int32Array.from(targets.flat()), [B * T], 'i32'),
      ),
    );
    console.log(`loss ${loss.item()}`);
  }
}

interface GenerateCli {
  model: string;
  promptIds?: string;
  dtype?: string;
  prompt?: string;
  tokenizer?: string;
  stop?: string[];
  maxNewTokens: string;
  greedy?: boolean;
  temperature?: string;
  topK?: string;
  topP?: string;
  minP?: string;
  repetitionPenalty?: string;
  seed?: string;
  json?: boolean;
  kvCache: string;
  adapter?: string;
  headDtype?: string;
}

export async function generateCommand(o: GenerateCli): Promise<void> {
  if (!o.promptIds && o.prompt === undefined)
    throw new CliError('pass --prompt TEXT or --prompt-ids JSON (e.g. "[1, 200, 3]")');
  const kvCacheDtype = kvCacheOption(o.kvCache);
  const { image } = o as { image?: string[] };
  if (image?.length || (await isVisionFolder(o.model))) {
    const ids = o.promptIds === undefined ? undefined : (JSON.parse(o.promptIds) as unknown);
    const n = (v?: string): number | undefined => (v === undefined ? undefined : Number(v));
    return visionGenerateCommand({
      ...o,
      image,
      promptIds:
        ids === undefined
          ? undefined
          : idsMatrix(Array.isArray(ids) && Array.isArray(ids[0]) ? ids : [ids], '--prompt-ids'),
      maxNewTokens: Number(o.maxNewTokens),
      sampling: {
        greedy: o.greedy,
        temperature: n(o.temperature),
        topK: n(o.topK),
        topP: n(o.topP),
        minP: n(o.minP),
        repetitionPenalty: n(o.repetitionPenalty),
        seed: n(o.seed),
      },
      kvCacheDtype,
    });
  }
  const model = await loadAnyModel(o.model, { weightDtype: o.dtype === 'bf16' ? 'bf16' : 'f32' });
  if (o.adapter) loadAdapter(o.adapter, model);
  applyHeadDtype(model, o.headDtype ?? 'float');
  // Text needs the model folder's tokenizer (or --tokenizer); ids do not.
  const tokenizer =
    o.prompt !== undefined || o.tokenizer || o.stop?.length
      ? loadModelTokenizer(o.tokenizer ?? o.model).tokenizer
      : null;
  let prompts: number[][];
  if (o.promptIds) {
    const parsed = JSON.parse(o.promptIds) as unknown;
    prompts =
      Array.isArray(parsed) && Array.isArray(parsed[0])
        ? idsMatrix(parsed, '--prompt-ids')
        : idsMatrix([parsed], '--prompt-ids');
  } else {
    prompts = [[tokenizer!.bosId, ...tokenizer!.encode(o.prompt!)]];
  }
  const num = (v?: string): number | undefined => (v === undefined ? undefined : Number(v));
  const all: number[][] = prompts.map(() => []);
  const stops = o.stop ?? [];
  let printed = '';
  for await (const step of generate(model, prompts, {
    maxNewTokens: Number(o.maxNewTokens),
    greedy: o.greedy,
    temperature: num(o.temperature),
    topK: num(o.topK),
    topP: num(o.topP),
    minP: num(o.minP),
    repetitionPenalty: num(o.repetitionPenalty),
    seed: num(o.seed),
    kvCacheDtype,
  })) {
    step.ids.forEach((id, b) => id >= 0 && all[b].push(id));
    if (prompts.length !== 1) continue;
    if (tokenizer && !o.json) {
      // Decode everything so far and print the new suffix; hold back a trailing partial UTF-8 char.
      let text = tokenizer.decode(all[0]);
      const hit = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) text = text.slice(0, Math.min(...hit));
      const ready = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
      if (ready.startsWith(printed)) process.stdout.write(ready.slice(printed.length));
      printed = ready;
      if (hit.length) break;
    } else if (!o.json) process.stdout.write(`${step.ids[0]} `);
  }
  if (o.json) console.log(JSON.stringify(prompts.length === 1 ? { ids: all[0] } : { ids: all }));
  else process.stdout.write('\n');
}

export function registerModelCommands(program: Command): void {
  program
    .command('logits')
    .description(
      'run a forward pass and write logits [B, T, V] as safetensors (prints the loss when targets are given)',
    )
    .requiredOption('--model <path>', 'model folder (float or GPTQ) or MiniCPM .gguf file')
    .requiredOption('--input <file>', 'JSON {"inputs": [[ids]], "targets": [[ids]]?}')
    .requiredOption('--output <file>', 'output .safetensors')
    .option('--image <file...>', 'MiniCPM-V: image files, the i-th filling the i-th <image> span of the ids')
    .option('--adapter <dir>', ADAPTER_HELP)
    .option(KV_CACHE_FLAG, `${KV_CACHE_HELP} (the forward pass runs through it)`, 'f32')
    .action(logitsCommand);
  program
    .command('generate')
    .description('generate tokens with a KV cache, streaming ids to stdout')
    .requiredOption('--model <path>', 'model folder (float or GPTQ) or MiniCPM .gguf file')
    .option(
      '--dtype <f32|bf16>',
      'weight storage for inference (bf16 halves memory and bytes per token)',
      'f32',
    )
    .option('--prompt <text>', "text prompt (tokenized with the model folder's tokenizer, BOS prepended)")
    .option('--tokenizer <path>', 'tokenizer.model / tokenizer.json / folder (default: the model folder)')
    .option('--stop <string...>', 'stop strings (text mode)')
    .option('--prompt-ids <json>', 'prompt ids, e.g. "[1, 200, 3]" or a batch [[...], [...]]')
    .option('--image <file...>', 'MiniCPM-V: image files, placed before the --prompt text')
    .option('--max-new-tokens <n>', 'tokens to generate', '64')
    .option('--greedy', 'argmax decoding')
    .option('--temperature <x>')
    .option('--top-k <n>')
    .option('--top-p <x>')
    .option('--min-p <x>')
    .option('--repetition-penalty <x>')
    .option('--seed <n>')
    .option(KV_CACHE_FLAG, KV_CACHE_HELP, 'f32')
    .option('--json', 'print {"ids": [...]} at the end instead of streaming')
    .option('--adapter <dir>', ADAPTER_HELP)
    .option(
      '--head-dtype <float|int8>',
      'LM head (and tied embedding) as int8 rows: less memory and decode bytes',
      'float',
    )
    .action(generateCommand);
}
