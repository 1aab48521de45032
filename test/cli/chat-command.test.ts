/**
 * `minicpm chat --endpoint` through a pseudo-terminal (util-linux `script`): streamed answers equal
 * the server's, /system and multi-line input reach the model, Ctrl-C stops an answer and the program
 * goes on, /reset and /exit work.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import { Rng } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const root = fileURLToPath(new URL('../..', import.meta.url));
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
let slow = false;
/** Tokens take 400 ms each while `slow` is set (so a Ctrl-C surely lands mid-answer). */
class SlowService extends GenerationService {
  override complete(
    ...args: Parameters<GenerationService['complete']>
  ): ReturnType<GenerationService['complete']> {
    const [prompt, r, onDelta, signal, opts = {}] = args;
    return super.complete(prompt, r, onDelta, signal, {
      ...opts,
      onToken: (id, logits) => {
        opts.onToken?.(id, logits);
        const until = performance.now() + (slow ? 400 : 0);
        while (performance.now() < until);
      },
    });
  }
}
const service = new SlowService(MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5)), tok, 'tiny');
const app = buildServer(service, { processMetrics: false });
let url = '';
beforeAll(async () => {
  url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1`;
});
afterAll(() => app.close());

/** What the server answers to `messages` (greedy, as the chat is run). */
async function expected(messages: { role: string; content: string }[], maxTokens: number): Promise<string> {
  const r = await app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    payload: { messages, max_tokens: maxTokens, temperature: 0 },
  });
  return r.json<{ choices: { message: { content: string } }[] }>().choices[0].message.content;
}

describe('minicpm chat in a terminal', () => {
  it('streams, keeps history, takes commands and multi-line input, and survives Ctrl-C', async () => {
    const cmd = `node ${root}bin/minicpm.mjs chat --endpoint ${url} --temperature 0 --max-tokens 12`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const clean = () => out.replace(/\r/g, '').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    const waitFor = async (pred: () => boolean, what: string) => {
      const end = Date.now() + 60_000;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output so far:\n${clean()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const count = (s: string) => clean().split(s).length - 1;
    const send = (s: string) => child.stdin.write(s);

    await waitFor(() => clean().includes('commands:'), 'the banner');
    send('Hello there\r');
    await waitFor(() => count(' tokens/s]') === 1, 'the first answer');
    const first = await expected([{ role: 'user', content: 'Hello there' }], 12);
    expect(clean()).toContain(first);

    send('/system Be brief.\r');
    await waitFor(() => clean().includes('(system prompt set'), '/system');
    send('line one\\\r');
    send('line two\r');
    await waitFor(() => count(' tokens/s]') === 2, 'the multi-line answer');
    const second = await expected(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'line one\nline two' },
      ],
      12,
    );
    expect(clean()).toContain(second);

    slow = true;
    send('Tell me a long story\r');
    // the answer has begun once anything follows the echoed question
    await waitFor(() => /Tell me a long story\n./s.test(clean()), 'the answer to start');
    send('\x03');
    await waitFor(() => /\[stopped/.test(clean()), 'Ctrl-C to stop the answer');
    slow = false;
    send('/reset\r');
    await waitFor(() => clean().includes('(conversation cleared)'), '/reset');
    send('/exit\r');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(service.scheduler.stats().active).toBe(0); // the stopped answer freed its slot
  }, 120_000);
});
