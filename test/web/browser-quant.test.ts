/**
 * Quantized models in the chat page (headless Chromium, the wasm backend's int4/int8 kernels): a Q4_0
 * GGUF served by `minicpm web --model FILE.gguf`, f16 and bf16 GGUF files one after the other in one page,
 * a GPTQ W4 folder (act-order) over HTTP, and a Q8_0
 * GGUF picked with the file input on a page that is not cross-origin isolated (the single-threaded
 * module); each answers a keyboard-typed prompt greedily with the same ids as the Node engine on the
 * same file. Skips, saying so, where no Chromium is installed.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatFormatFor, renderPrompt } from '../../src/align/chat-format.js';
import { useBackend } from '../../src/backends/index.js';
import { loadModelTokenizer } from '../../src/cli/model-tokenizer.js';
import { startWebServer } from '../../src/cli/web-command.js';
import { generateAll } from '../../src/engine/generate.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { loadQuantizedModel } from '../../src/quant/load-quantized.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { askPage, CHROMIUM, CHROMIUM_ARGS, ggufOf, gptqOf, makeBrowserModel } from './browser-model.js';

const have = existsSync(CHROMIUM);
if (!have)
  console.warn(
    `skipping the browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );

interface PageState {
  state: string;
  backend: string;
  lastIds: number[];
  error: string;
}
type W = { minicpmPage?: PageState };
const PROMPT = 'hello world, how are you?';
const NEW_TOKENS = 10;

/** The Node engine's greedy answer (on the default backend) to the chat prompt. */
async function nodeIds(model: MiniCPM, path: string): Promise<number[]> {
  const { tokenizer, chatTemplate } = loadModelTokenizer(path);
  const prompt = renderPrompt(tokenizer, chatFormatFor('auto', 'minicpm', chatTemplate), [
    { role: 'user', content: PROMPT },
  ]);
  const [ids] = await generateAll(model, [prompt], {
    greedy: true,
    maxNewTokens: NEW_TOKENS,
    stopIds: [model.config.eosTokenId],
  });
  return ids;
}

/** Waits for the loaded page, types the prompt with the keyboard, returns the answer's ids. */
async function chat(page: Page): Promise<{ ids: number[]; backend: string }> {
  await page.waitForFunction(
    () => ['ready', 'error'].includes((globalThis as unknown as W).minicpmPage?.state ?? ''),
    null,
    { timeout: 60_000 },
  );
  expect(await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.error)).toBe('');
  const ids = await askPage(page, PROMPT, NEW_TOKENS);
  return { ids, backend: await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.backend) };
}

describe.skipIf(!have)('quantized models in the chat page', () => {
  let browser: Browser;
  let dir: string;
  const after: (() => void)[] = [];

  beforeAll(async () => {
    useBackend('auto');
    dir = await makeBrowserModel();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    after.forEach((f) => f());
  });

  it('a Q4_0 GGUF served by minicpm web: the Node engine’s greedy ids, 2 threads', async () => {
    const gguf = await ggufOf(dir, 'q4_0');
    const want = await nodeIds(await loadGgufModel(gguf, {}, () => {}), gguf);
    expect(new Set(want).size).toBeGreaterThan(3);
    const srv = await startWebServer({ model: gguf, port: 0, threads: 2 });
    after.push(() => srv.server.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(srv.url);
    const got = await chat(page);
    expect(got.backend).toBe('wasm simd128, 2 threads');
    expect(got.ids).toEqual(want);
    expect(errors).toEqual([]);
  }, 180_000);

  it('f16 then bf16 GGUF loaded into the same page (the second load replaces the first runtime): the Node engine’s ids', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'minicpm-web-two-'));
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(folder, f));
    const files: Record<string, string> = {};
    for (const dtype of ['f16', 'bf16']) {
      files[dtype] = join(folder, `model-${dtype}.gguf`);
      copyFileSync(await ggufOf(dir, dtype as 'f16' | 'bf16'), files[dtype]);
    }
    const srv = await startWebServer({ model: folder, port: 0, threads: 2 });
    after.push(() => srv.server.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${srv.url}?autoload=0`);
    const base = await page.evaluate(() =>
      fetch('api/info')
        .then((r) => r.json() as Promise<{ modelUrl: string }>)
        .then((j) => j.modelUrl),
    );
    for (const dtype of ['f16', 'bf16']) {
      const want = await nodeIds(await loadGgufModel(files[dtype], {}, () => {}), files[dtype]);
      await page.evaluate(
        (u) =>
          (
            globalThis as unknown as { minicpmPage: { loadUrl(u: string, t: number): void } }
          ).minicpmPage.loadUrl(u, 2),
        `${base}model-${dtype}.gguf`,
      );
      expect((await chat(page)).ids, dtype).toEqual(want);
    }
    expect(errors).toEqual([]);
  }, 180_000);

  it('a GPTQ W4 folder (act-order) over HTTP: the Node engine’s greedy ids', async () => {
    const w4 = await gptqOf(dir, 4);
    const want = await nodeIds(await loadQuantizedModel(w4), w4);
    const srv = await startWebServer({ model: w4, port: 0, threads: 2 });
    after.push(() => srv.server.close());
    const page = await browser.newPage();
    await page.goto(srv.url);
    expect((await chat(page)).ids).toEqual(want);
  }, 180_000);

  it('a Q8_0 GGUF picked with the file input, not cross-origin isolated (one thread): same ids', async () => {
    const gguf = await ggufOf(dir, 'q8_0');
    const want = await nodeIds(await loadGgufModel(gguf, {}, () => {}), gguf);
    const srv = await startWebServer({ model: dir, port: 0, threads: 2, isolate: false });
    after.push(() => srv.server.close());
    const page = await browser.newPage();
    await page.goto(`${srv.url}?autoload=0`);
    await page.setInputFiles('#model-gguf', gguf);
    const got = await chat(page);
    expect(got.backend).toBe('wasm simd128, 1 thread (not isolated)');
    expect(got.ids).toEqual(want);
  }, 180_000);
});
