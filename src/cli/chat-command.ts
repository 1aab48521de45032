/**
 * `minicpm chat`: an interactive terminal chat over a model folder (in process, through the same
 * service as `minicpm serve`) or over any OpenAI-compatible server (`--endpoint`). Answers stream as
 * they are generated; the conversation is kept as history. Commands: /reset, /system TEXT, /image
 * FILE (MiniCPM-V: the next message shows the model that image; --image FILE for the first), /help,
 * /exit. An image goes first in its message, then a newline and the text (MiniCPM-V 1.0's chat). A line ending in a backslash continues on the next line. Ctrl-C stops the answer being
 * written (the partial answer stays in the history) and never the program; Ctrl-D quits.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Command } from 'commander';
import { decodeImage } from '../image/index.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { loadMiniCPMV } from '../models/minicpmv-load.js';
import { loadAnyModel } from '../quant/index.js';
import { encodeImages, imageChatPrompt } from '../server/images.js';
import { IMAGE_PART_MARKER } from '../server/requests.js';
import type { Tensor } from '../tensor/index.js';
import type { SamplingRequest } from '../server/requests.js';
import { GenerationService } from '../server/generation-service.js';
import type { ChatMessage } from '../tokenizer/index.js';
import { KV_CACHE_FLAG, KV_CACHE_HELP, kvCacheOption } from './kv-cache-option.js';
import { loadModelTokenizer } from './model-tokenizer.js';
import { isVisionFolder } from './vision-inference.js';

export class ChatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatError';
  }
}

interface ChatOptions {
  model?: string;
  endpoint?: string;
  apiKey?: string;
  modelName?: string;
  dtype: string;
  kvCache: string;
  system?: string;
  maxTokens: string;
  temperature: string;
  topP: string;
  seed?: string;
  image?: string[];
}

/**
 * Streams an answer's text pieces to `onText`; resolves with the number of tokens generated. `images`
 * are the files of the conversation's image markers, in order.
 */
export type Answer = (
  messages: ChatMessage[],
  onText: (t: string) => void,
  signal: AbortSignal,
  images: readonly string[],
) => Promise<number>;

/** In process; with a MiniCPM-V each image file is decoded and encoded once for the whole chat. */
export function localAnswer(service: GenerationService, sampling: SamplingRequest, vlm?: MiniCPMV): Answer {
  const encoded = new Map<string, Tensor>();
  return async (messages, onText, signal, images) => {
    if (images.length && !vlm)
      throw new ChatError('this model takes no images: chat with a MiniCPM-V folder');
    let prompt = service.chatPrompt(messages);
    let spliced;
    if (vlm) {
      const { prompt: ids, starts } = imageChatPrompt(vlm, service.tok, messages, images.length);
      for (const file of images)
        if (!encoded.has(file)) {
          const [t] = encodeImages(vlm, [await decodeImage(fs.readFileSync(file), { what: file })]);
          encoded.set(file, t);
        }
      prompt = ids;
      spliced = images.map((f, i) => ({ start: starts[i], tokens: encoded.get(f)! }));
    }
    const usage = await service.complete(prompt, sampling, (d) => onText(d.text), signal, {
      images: spliced,
    });
    return usage.completionTokens;
  };
}

const MEDIA: Record<string, string> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.gif': 'gif' };

/** A message with image markers as OpenAI content parts (the files inline as data: URLs). */
function contentParts(content: string, files: string[]): string | object[] {
  if (!content.includes(IMAGE_PART_MARKER)) return content;
  const parts: object[] = [];
  content.split(IMAGE_PART_MARKER).forEach((text, i) => {
    if (i > 0) {
      const file = files.shift()!;
      const type = MEDIA[path.extname(file).toLowerCase()] ?? 'png';
      const url = `data:image/${type};base64,${fs.readFileSync(file).toString('base64')}`;
      parts.push({ type: 'image_url', image_url: { url } });
    }
    if (text) parts.push({ type: 'text', text });
  });
  return parts;
}

/** Server-sent events of an OpenAI-compatible /v1/chat/completions. */
export function endpointAnswer(
  base: string,
  apiKey: string | undefined,
  model: string,
  sampling: SamplingRequest,
): Answer {
  const url = `${base.replace(/\/+$/, '')}/chat/completions`;
  return async (messages, onText, signal, images) => {
    const files = [...images];
    const res = await fetch(url, {
      method: 'POST',
      signal,
      headers: {
        'content-type': 'application/json',
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      },
      body: JSON.stringify({
        model,
        messages: messages.map((m) => ({ role: m.role, content: contentParts(m.content, files) })),
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: sampling.maxTokens,
        temperature: sampling.temperature,
        top_p: sampling.topP,
        seed: sampling.seed,
      }),
    });
    if (!res.ok || !res.body) throw new ChatError(`${url} answered ${res.status}: ${await res.text()}`);
    let tokens = 0;
    let pieces = 0;
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut).replace(/^data: /, '');
        buffer = buffer.slice(cut + 2);
        if (event === '[DONE]') return tokens || pieces;
        const chunk = JSON.parse(event) as {
          choices?: { delta?: { content?: string } }[];
          usage?: { completion_tokens: number };
          error?: { message: string };
        };
        if (chunk.error) throw new ChatError(chunk.error.message);
        const text = chunk.choices?.[0]?.delta?.content;
        if (text) {
          pieces++;
          onText(text);
        }
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
      }
    }
    return tokens || pieces;
  };
}

const HELP =
  'commands: /reset (forget the conversation), /system TEXT (set the system prompt), /image FILE (show the next message an image), /exit';

/** The read-answer loop over a terminal (or any stream pair). */
export async function chatLoop(
  answer: Answer,
  io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream },
  system?: string,
  firstImages: readonly string[] = [],
): Promise<void> {
  const rl = readline.createInterface({ input: io.input, output: io.output, terminal: true, prompt: '> ' });
  const say = (s: string) => void io.output.write(s);
  let history: ChatMessage[] = [];
  // the files of the history's image markers, and those waiting for the next message
  let images: string[] = [];
  let attach = [...firstImages];
  let systemPrompt = system;
  let pending: string[] = [];
  let answering: AbortController | null = null;
  rl.on('SIGINT', () => {
    if (answering) answering.abort();
    else {
      pending = [];
      say('\n(Ctrl-D or /exit quits)\n');
      rl.prompt();
    }
  });
  say(`${HELP}\n`);
  rl.prompt();
  for await (const line of rl) {
    if (line.endsWith('\\')) {
      pending.push(line.slice(0, -1));
      rl.setPrompt('. ');
      rl.prompt();
      continue;
    }
    const text = [...pending, line].join('\n');
    pending = [];
    rl.setPrompt('> ');
    const cmd = text.trim();
    if (cmd === '/exit' || cmd === '/quit') break;
    if (cmd === '/help' || cmd === '') say(cmd ? `${HELP}\n` : '');
    else if (cmd === '/reset') {
      history = [];
      images = [];
      say('(conversation cleared)\n');
    } else if (cmd === '/image' || cmd.startsWith('/image ')) {
      const file = cmd.slice('/image'.length).trim();
      if (!file) say('usage: /image FILE\n');
      else if (!fs.existsSync(file)) say(`(no such file: ${file})\n`);
      else {
        attach.push(file);
        say(`(${file} goes with your next message)\n`);
      }
    } else if (cmd.startsWith('/system')) {
      systemPrompt = cmd.slice('/system'.length).trim() || undefined;
      history = [];
      images = [];
      say(systemPrompt ? '(system prompt set; conversation cleared)\n' : '(system prompt removed)\n');
    } else if (cmd.startsWith('/')) say(`unknown command ${cmd.split(/\s/)[0]}; ${HELP}\n`);
    else {
      history.push({
        role: 'user',
        content: IMAGE_PART_MARKER.repeat(attach.length) + (attach.length ? '\n' : '') + text,
      });
      images = [...images, ...attach];
      attach = [];
      const messages: ChatMessage[] = systemPrompt
        ? [{ role: 'system', content: systemPrompt }, ...history]
        : history;
      answering = new AbortController();
      let reply = '';
      const start = performance.now();
      try {
        const tokens = await answer(messages, (t) => say(((reply += t), t)), answering.signal, images);
        const secs = (performance.now() - start) / 1000;
        say(
          `\n[${answering.signal.aborted ? 'stopped, ' : ''}${tokens} tokens, ${(tokens / secs).toFixed(1)} tokens/s]\n`,
        );
      } catch (e) {
        say(answering.signal.aborted ? '\n[stopped]\n' : `\n[error: ${(e as Error).message}]\n`);
      }
      answering = null;
      history.push({ role: 'assistant', content: reply });
    }
    rl.prompt();
  }
  rl.close();
}

export function registerChatCommand(program: Command): void {
  program
    .command('chat')
    .description('chat in the terminal with a model folder or an OpenAI-compatible server')
    .option('--model <dir>', 'Hugging Face folder (or GGUF file) with its tokenizer')
    .option('--endpoint <url>', 'an OpenAI-compatible server instead, e.g. http://127.0.0.1:8080/v1')
    .option('--api-key <key>', 'bearer token for --endpoint (or OPENAI_API_KEY)')
    .option('--model-name <id>', 'model id to ask --endpoint for', 'default')
    .option('--dtype <f32|bf16>', 'weights in memory (with --model)', 'f32')
    .option(KV_CACHE_FLAG, `${KV_CACHE_HELP} (with --model)`, 'f32')
    .option('--system <text>', 'system prompt')
    .option('--max-tokens <n>', 'longest answer', '512')
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', '0.7')
    .option('--top-p <p>', 'nucleus sampling', '0.9')
    .option('--seed <n>', 'random seed')
    .option(
      '--image <file...>',
      'MiniCPM-V: images shown with the first message (/image FILE for later ones)',
    )
    .action(async (o: ChatOptions) => {
      if (!o.model === !o.endpoint) throw new ChatError('give either --model DIR or --endpoint URL');
      const num = (flag: string, v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new ChatError(`${flag} must be a number, got "${v}"`);
        return n;
      };
      const sampling: SamplingRequest = {
        maxTokens: num('--max-tokens', o.maxTokens),
        temperature: num('--temperature', o.temperature),
        topP: num('--top-p', o.topP),
        seed: o.seed === undefined ? undefined : num('--seed', o.seed),
        stop: [],
        stream: true,
        n: 1,
        includeUsage: false,
        json: false,
      };
      let answer: Answer;
      let service: GenerationService | null = null;
      for (const f of o.image ?? []) if (!fs.existsSync(f)) throw new ChatError(`image ${f} does not exist`);
      if (o.model) {
        const weightDtype = o.dtype === 'bf16' ? 'bf16' : 'f32';
        const vlm = (await isVisionFolder(o.model))
          ? await loadMiniCPMV(o.model, { weightDtype })
          : undefined;
        const model: MiniCPM = vlm ? vlm.llm : await loadAnyModel(o.model, { weightDtype });
        const loaded = loadModelTokenizer(o.model);
        service = new GenerationService(model, loaded.tokenizer, path.basename(o.model), {
          chatTemplate: loaded.chatTemplate,
          kvDtype: kvCacheOption(o.kvCache),
          parallel: 1,
        });
        answer = localAnswer(service, sampling, vlm);
      } else
        answer = endpointAnswer(
          o.endpoint!,
          o.apiKey ?? process.env.OPENAI_API_KEY,
          o.modelName ?? 'default',
          sampling,
        );
      await chatLoop(answer, { input: process.stdin, output: process.stdout }, o.system, o.image);
      await service?.close();
    });
}
