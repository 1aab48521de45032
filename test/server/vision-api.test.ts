/**
 * Images in /v1/chat/completions on the image-SFT tests' tiny MiniCPM-V (a folder with its tokenizer; the
 * shared fixture's 128-id vocabulary has no tokenizer to go with it): greedy answers and first-token log-probs equal in-process generation
 * with the same images (the span split across prefill chunks), the tower runs once per image per
 * request, text-only requests run beside image ones, remote URLs only with the flag, bad input is a 400.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { renderImageChat } from '../../src/align/vlm-examples.js';
import { useBackend } from '../../src/backends/index.js';
import { generateAll } from '../../src/engine/generate.js';
import { decodeImage } from '../../src/image/index.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { presetConfig } from '../../src/models/presets.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import { logSoftmax, noGrad, Rng, slice, Tensor, type Tensor as T } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { writeTinyVlm } from '../align/vlm-helpers.js';

useBackend('auto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vision-api-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
// the image-SFT tests' tiny MiniCPM-V (a model folder with its trained BPE tokenizer)
const { modelDir: DIR } = await writeTinyVlm(tmp);
const tok = loadTokenizer(DIR).tokenizer;
const vlm = await loadMiniCPMV(DIR, { weightDtype: 'f32' });
const Q = vlm.config.queryNum;

async function png(seed: number, w = 40, h = 30): Promise<Buffer> {
  const rng = new Rng(seed);
  const px = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng.uniform() * 256));
  return sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}
const dataUrl = (b: Buffer, type = 'image/png') => `data:${type};base64,${b.toString('base64')}`;
const A = await png(1);
const B = await png(2, 25, 50);
const part = (url: string) => ({ type: 'image_url', image_url: { url } });
const text = (t: string) => ({ type: 'text', text: t });

function serverFor(chunk: number, allowRemote = false) {
  const service = new GenerationService(vlm.llm, tok, 'tiny-v', { parallel: 4, prefillChunk: chunk });
  return buildServer(service, { images: { model: vlm, allowRemote, maxImages: 3 } });
}

interface Json {
  choices: {
    message: { content: string };
    logprobs: { content: { token: string; logprob: number }[] } | null;
    finish_reason: string;
  }[];
  usage: { prompt_tokens: number; completion_tokens: number };
  error: { message: string; param: string | null };
}
type App = ReturnType<typeof serverFor>;
const post = async (app: App, payload: unknown) => {
  const r = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: payload as object });
  return { status: r.statusCode, json: r.json<Json>() };
};

/** In-process: the same prompt and images through the engine's generate (one full prefill). */
async function expected(content: string, images: Buffer[], maxNewTokens: number) {
  const prompt = renderImageChat(tok, [{ role: 'user', content }], Q, { addGenerationPrompt: true }).ids;
  const tokens: T[] = [];
  for (const b of images) tokens.push(noGrad(() => vlm.encodeImage(decodeImagesSync.get(b)!)).keep());
  const [ids] = await generateAll(vlm.llm.withImages([tokens]), [prompt], {
    maxNewTokens,
    greedy: true,
    stopIds: [tok.eosId],
  });
  const logits = noGrad(() =>
    vlm.forward(Tensor.from(Int32Array.from(prompt), [1, prompt.length], 'i32'), [tokens]),
  );
  const last = noGrad(() => logSoftmax(slice(logits, 1, prompt.length - 1, prompt.length)));
  const firstLogprob = (last.data as Float32Array)[last.offset + ids[0]] ?? NaN;
  tokens.forEach((t) => t.dispose());
  return {
    prompt,
    ids,
    text: tok.decode(ids.filter((id) => id !== tok.eosId)),
    firstLogprob,
  };
}
const decodeImagesSync = new Map([
  [A, await decodeImage(A)],
  [B, await decodeImage(B)],
]);

describe('chat completions with images (MiniCPM-V)', () => {
  it('a greedy answer about one image equals in-process generation, log-probs included', async () => {
    const app = serverFor(256);
    const { status, json } = await post(app, {
      messages: [{ role: 'user', content: [part(dataUrl(A)), text('what is in the picture?')] }],
      temperature: 0,
      max_tokens: 8,
      logprobs: true,
    });
    expect(status, JSON.stringify(json)).toBe(200);
    const want = await expected('<image>\nwhat is in the picture?', [A], 8);
    expect(json.choices[0].message.content).toBe(want.text);
    expect(json.usage.prompt_tokens).toBe(want.prompt.length);
    expect(json.usage.completion_tokens).toBe(want.ids.length);
    expect(json.choices[0].logprobs!.content[0].logprob).toBeCloseTo(want.firstLogprob, 4);
    // the image matters: another image changes the first token's log-prob
    const other = await expected('<image>\nwhat is in the picture?', [B], 8);
    expect(Math.abs(other.firstLogprob - want.firstLogprob)).toBeGreaterThan(1e-4);
  });

  it('two images in one message, spans split across prefill chunks, n = 2: the tower runs once per image', async () => {
    const app = serverFor(5);
    const spy = vi.spyOn(vlm, 'encodeImage');
    const { status, json } = await post(app, {
      messages: [
        {
          role: 'user',
          content: [text('describe it.'), part(dataUrl(A)), part(dataUrl(B)), text(' a red box?')],
        },
      ],
      temperature: 0,
      max_tokens: 6,
      n: 2,
    });
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
    expect(status).toBe(200);
    const want = await expected('describe it.<image><image> a red box?', [A, B], 6);
    expect(json.choices.map((c) => c.message.content)).toEqual([want.text, want.text]);
  });

  it('text-only and image requests run side by side, each equal to running alone', async () => {
    const app = serverFor(4);
    const [t, v] = await Promise.all([
      post(app, { messages: [{ role: 'user', content: 'the sea is blue.' }], temperature: 0, max_tokens: 6 }),
      post(app, {
        messages: [{ role: 'user', content: [part(dataUrl(B)), text('describe it.')] }],
        temperature: 0,
        max_tokens: 6,
      }),
    ]);
    expect([t.status, v.status]).toEqual([200, 200]);
    expect(t.json.choices[0].message.content).toBe((await expected('the sea is blue.', [], 6)).text);
    expect(v.json.choices[0].message.content).toBe((await expected('<image>\ndescribe it.', [B], 6)).text);
  });

  it('fetches http(s) images only when allowed, and answers as with the inline image', async () => {
    const srv = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(A));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/a.png`;
    const body = (u: string) => ({
      messages: [{ role: 'user', content: [part(u), text('what is in the picture?')] }],
      temperature: 0,
      max_tokens: 5,
    });
    try {
      const refused = await post(serverFor(256), body(url));
      expect(refused.status).toBe(400);
      expect(refused.json.error.message).toMatch(/remote image URLs are not fetched/);
      const fetched = await post(serverFor(256, true), body(url));
      expect(fetched.status).toBe(200);
      const inline = await post(serverFor(256), body(dataUrl(A)));
      expect(fetched.json.choices[0].message.content).toBe(inline.json.choices[0].message.content);
    } finally {
      srv.close();
    }
  });

  it('bad images and misplaced parts are 400s that say what to do', async () => {
    const app = serverFor(256);
    const ask = (content: unknown, role = 'user') =>
      post(app, {
        messages: [{ role, content }, ...(role === 'user' ? [] : [{ role: 'user', content: 'hi' }])],
      });
    const cases: [unknown, RegExp, string?][] = [
      [[part('data:text/plain;base64,aGVsbG8='), text('hi')], /not an image/],
      [
        [part(`data:image/png;base64,${Buffer.from('hello, not a png').toString('base64')}`)],
        /not a PNG or JPEG/,
      ],
      [[part(dataUrl(A.subarray(0, A.length >> 1)))], /truncated or corrupt/],
      [[part('data:image/png;base64,***')], /not valid base64/],
      [[part('file:///etc/passwd')], /data: or http/],
      [[{ type: 'image_url', image_url: {} }], /image_url must be/],
      [[{ type: 'audio', audio: 'x' }], /parts must be/],
      [[part(dataUrl(A)), part(dataUrl(A)), part(dataUrl(A)), part(dataUrl(A))], /at most 3 per request/],
      [[text('look: <image> here'), part(dataUrl(A))], /literal <image> marker/],
      [[part(dataUrl(A))], /images belong in user messages/, 'assistant'],
    ];
    for (const [content, re, role] of cases) {
      const { status, json } = await ask(content, role);
      expect(status, String(re)).toBe(400);
      expect(json.error.message).toMatch(re);
      expect(json.error.param).toBe('messages');
    }
  });

  it('a text model refuses image parts with a 400', async () => {
    const text1 = MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(3));
    const app = buildServer(new GenerationService(text1, tok, 'text-only'));
    const { status, json } = await post(app, {
      messages: [{ role: 'user', content: [part(dataUrl(A)), text('hi')] }],
    });
    expect(status).toBe(400);
    expect(json.error.message).toMatch(/text model: it takes no image parts/);
  });
});
