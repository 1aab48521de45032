/**
 * The demo's last stage: the final (int4) model behind the OpenAI-compatible server on a loopback port the
 * system picks, a few held-out questions sent as `/v1/chat/completions` requests over HTTP (greedy), and
 * the server closed through its handle — running requests finish, then the port is released.
 */
import type { InstructionItem } from '../data/instruct/synth.js';
import { loadAnyModel } from '../quant/index.js';
import { buildServer } from '../server/app.js';
import { GenerationService } from '../server/generation-service.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { DemoError } from './options.js';

export interface ChatTurn {
  kind: string;
  prompt: string;
  answer: string;
  /** The held-out item's correct answer, for the reader to compare. */
  expected: string;
  finishReason: string;
  completionTokens: number;
}

export interface ChatSession {
  model: string;
  url: string;
  turns: ChatTurn[];
}

interface ChatResponse {
  choices?: { message?: { content?: string }; finish_reason?: string }[];
  usage?: { completion_tokens?: number };
  error?: { message?: string };
}

/** One item of each kind, in the order the kinds first appear. */
export function chatItems(items: readonly InstructionItem[], perKind = 1): InstructionItem[] {
  const count = new Map<string, number>();
  return items.filter((it) => {
    const n = count.get(it.kind) ?? 0;
    count.set(it.kind, n + 1);
    return n < perKind;
  });
}

export async function chatThroughServer(
  modelDir: string,
  items: readonly InstructionItem[],
  maxTokens: number,
  log: (msg: string) => void,
): Promise<ChatSession> {
  const model = await loadAnyModel(modelDir);
  const loaded = loadTokenizer(modelDir);
  const name = 'minicpm-demo-int4';
  const service = new GenerationService(model, loaded.tokenizer, name, {
    chatTemplate: loaded.chatTemplate,
    parallel: 2,
  });
  const app = buildServer(service, { processMetrics: false });
  // port 0: the system picks a free port, so a second demo (or anything else) never collides
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  log(`   serving ${name} at ${url}/v1`);
  const turns: ChatTurn[] = [];
  try {
    for (const it of items) {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: name,
          messages: [{ role: 'user', content: it.prompt }],
          max_tokens: maxTokens,
          temperature: 0,
        }),
      });
      const body = (await res.json()) as ChatResponse;
      const choice = body.choices?.[0];
      if (!res.ok || !choice)
        throw new DemoError(
          `the server answered ${res.status}: ${body.error?.message ?? JSON.stringify(body)}`,
        );
      const answer = choice.message?.content ?? '';
      turns.push({
        kind: it.kind,
        prompt: it.prompt,
        answer,
        expected: it.chosen,
        finishReason: choice.finish_reason ?? '',
        completionTokens: body.usage?.completion_tokens ?? 0,
      });
      log(`   > ${it.prompt}\n     ${answer.replace(/\n/g, ' ')}   (expected: ${it.chosen})`);
    }
  } finally {
    await Promise.all([service.close(), app.close()]);
    for (const p of model.parameters()) p.dispose();
  }
  log(`   server at ${url} stopped`);
  return { model: name, url, turns };
}
