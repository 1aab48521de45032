/**
 * `minicpm chat` with images on a tiny MiniCPM-V: `/image FILE` (and --image) shows the next message an
 * image; the in-process answer equals the server's greedy answer to the same image_url request, a later
 * turn keeps the image in the history, and a text model says it takes no images.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { chatLoop, endpointAnswer, localAnswer, type Answer } from '../../src/cli/chat-command.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import type { SamplingRequest } from '../../src/server/requests.js';
import { Rng } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { writeTinyVlm } from '../align/vlm-helpers.js';

useBackend('auto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-image-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const { modelDir } = await writeTinyVlm(tmp);
const tok = loadTokenizer(modelDir).tokenizer;
const vlm = await loadMiniCPMV(modelDir, { weightDtype: 'f32' });
const rng = new Rng(7);
const bytes = await sharp(Buffer.from(Uint8Array.from({ length: 20 * 20 * 3 }, () => rng.uniform() * 256)), {
  raw: { width: 20, height: 20, channels: 3 },
})
  .png()
  .toBuffer();
const file = path.join(tmp, 'a.png');
fs.writeFileSync(file, bytes);
const greedy: SamplingRequest = {
  maxTokens: 6,
  temperature: 0,
  topP: 1,
  stop: [],
  stream: true,
  n: 1,
  includeUsage: false,
  json: false,
};

/** Runs the chat over `lines`; returns each answer's text as the answer function streamed it. */
async function chat(answer: Answer, lines: string[], first: string[] = []): Promise<string[]> {
  const input = new PassThrough();
  const output = new PassThrough();
  output.resume();
  const answers: string[] = [];
  const recording: Answer = (messages, onText, signal, images) => {
    answers.push('');
    return answer(messages, (t) => ((answers[answers.length - 1] += t), onText(t)), signal, images);
  };
  const done = chatLoop(recording, { input, output }, undefined, first);
  for (const l of lines) input.write(`${l}\n`);
  input.end();
  await done;
  return answers;
}

describe('minicpm chat with images', () => {
  const service = new GenerationService(vlm.llm, tok, 'tiny-v', { parallel: 1 });
  const app = buildServer(service, { images: { model: vlm } });
  const server = async (content: unknown[]) => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { messages: [{ role: 'user', content }], temperature: 0, max_tokens: 6 },
    });
    return r.json<{ choices: { message: { content: string } }[] }>().choices[0].message.content;
  };
  const url = `data:image/png;base64,${bytes.toString('base64')}`;

  it('/image FILE: the answer equals the server greedy answer to the same image_url request', async () => {
    const answers = await chat(localAnswer(service, greedy, vlm), [`/image ${file}`, 'describe it.']);
    const want = await server([
      { type: 'image_url', image_url: { url } },
      { type: 'text', text: 'describe it.' },
    ]);
    expect(answers).toEqual([want]);
    const viaFlag = await chat(localAnswer(service, greedy, vlm), ['describe it.'], [file]);
    expect(viaFlag).toEqual([want]);
    // --endpoint: the image goes to the server as an inline image_url part
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const remote = await chat(
        endpointAnswer(`${base}/v1`, undefined, 'tiny-v', greedy),
        ['describe it.'],
        [file],
      );
      expect(remote).toEqual([want]);
    } finally {
      await app.close();
    }
  });

  it('passes the files of the whole history in marker order; /reset forgets them', async () => {
    const seen: { messages: string[]; images: string[] }[] = [];
    const spy: Answer = (messages, onText, _signal, images) => {
      seen.push({ messages: messages.map((m) => m.content), images: [...images] });
      onText('ok');
      return Promise.resolve(1);
    };
    await chat(spy, [
      `/image ${file}`,
      'one',
      'two',
      `/image ${file}`,
      `/image ${file}`,
      'three',
      '/reset',
      'four',
    ]);
    expect(seen.map((s) => s.images.length)).toEqual([1, 1, 3, 0]);
    expect(seen[2].messages).toEqual(['<image>\none', 'ok', 'two', 'ok', '<image><image>\nthree']);
    expect(seen[3].messages).toEqual(['four']);
  });

  it('a text model answers that it takes no images', async () => {
    const text = new GenerationService(vlm.llm, tok, 'text', { parallel: 1 });
    const input = new PassThrough();
    const output = new PassThrough();
    let out = '';
    output.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const done = chatLoop(localAnswer(text, greedy), { input, output });
    input.end(`/image ${file}\nhi\n`);
    await done;
    expect(out).toMatch(/this model takes no images/);
  });
});
