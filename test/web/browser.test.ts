/**
 * The chat page in a real headless Chromium (Debian's, driven by playwright-core): `minicpm web`
 * serves the page and a model, the page loads it over HTTP into the wasm backend (2 threads, cross-
 * origin isolated), a prompt typed with the keyboard is answered greedily, and the generated ids equal
 * the Node engine's on the same folder; also without cross-origin isolation (one thread, unshared wasm),
 * from a picked folder, from the Cache API after a reload, and stopped by Escape. A screenshot goes to
 * build/web-test/. Skips, saying so, where
 * no Chromium is installed (CI installs Debian's chromium).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatFormatFor, renderPrompt } from '../../src/align/chat-format.js';
import { useBackend } from '../../src/backends/index.js';
import { startWebServer } from '../../src/cli/web-command.js';
import { generateAll } from '../../src/engine/generate.js';
import { loadModel } from '../../src/models/load.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import {
  askPage,
  bf16Sharded,
  CHROMIUM,
  CHROMIUM_ARGS,
  makeBrowserModel,
  typePrompt,
} from './browser-model.js';

const have = existsSync(CHROMIUM);
if (!have)
  console.warn(
    `skipping the browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );

/** What web/src/app.ts exposes as window.minicpmPage. */
interface PageState {
  state: string;
  backend: string;
  lastIds: number[];
  error: string;
  cachedFiles: string[];
}
type W = { minicpmPage?: PageState; crossOriginIsolated: boolean };

const PROMPT = 'hello world, how are you?';
const NEW_TOKENS = 12;

describe.skipIf(!have)('the chat page in headless Chromium', () => {
  let browser: Browser;
  let server: Server;
  let url: string;
  let dir: string;
  const after: (() => void)[] = [];
  /** The Node engine's greedy answer (beforeAll). */
  let firstIds: number[] = [];

  beforeAll(async () => {
    useBackend('auto');
    dir = await makeBrowserModel();
    ({ server, url } = await startWebServer({ model: dir, port: 0, threads: 2 }));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    // the Node engine's greedy answer to the chat prompt, on the native (or reference) backend
    const model = await loadModel(dir);
    const { tokenizer, chatTemplate } = loadTokenizer(dir);
    const prompt = renderPrompt(tokenizer, chatFormatFor('auto', 'minicpm', chatTemplate), [
      { role: 'user', content: PROMPT },
    ]);
    [firstIds] = await generateAll(model, [prompt], {
      greedy: true,
      maxNewTokens: NEW_TOKENS,
      stopIds: [model.config.eosTokenId],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    after.forEach((f) => f());
  });

  it('loads the model over HTTP, answers a keyboard-typed prompt greedily with the Node engine’s ids', async () => {
    const want = firstIds;

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as W).minicpmPage?.state === 'ready' ||
        (globalThis as unknown as W).minicpmPage?.state === 'error',
      null,
      { timeout: 60_000 },
    );
    const loaded = await page.evaluate(() => ({
      ...(globalThis as unknown as W).minicpmPage!,
      isolated: (globalThis as unknown as W).crossOriginIsolated,
    }));
    expect(loaded.error).toBe('');
    expect(loaded.isolated).toBe(true);
    expect(loaded.backend).toBe('wasm simd128, 2 threads');

    // keyboard only: Tab to the max-tokens field, set it, back to the prompt, type, Enter
    const got = await askPage(page, PROMPT, NEW_TOKENS);
    expect(new Set(want).size).toBeGreaterThan(4); // a varied answer, not one repeated token
    expect(got).toEqual(want);
    expect(await page.textContent('#stats')).toMatch(/decode [\d.]+ tok\/s/);
    const out = join('build', 'web-test');
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, 'chat-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);

  it('without cross-origin isolation: one thread on the unshared wasm module, with a notice, same ids', async () => {
    const plain = await startWebServer({ model: dir, port: 0, threads: 2, isolate: false });
    after.push(() => plain.server.close());
    const want = firstIds;
    const page = await browser.newPage();
    await page.goto(plain.url);
    await page.waitForFunction(() => (globalThis as unknown as W).minicpmPage?.state === 'ready', null, {
      timeout: 60_000,
    });
    const s = await page.evaluate(() => ({
      backend: (globalThis as unknown as W).minicpmPage!.backend,
      isolated: (globalThis as unknown as W).crossOriginIsolated,
    }));
    expect(s).toEqual({ backend: 'wasm simd128, 1 thread (not isolated)', isolated: false });
    expect(await page.isVisible('#notice')).toBe(true);
    expect(await page.textContent('#notice')).toMatch(/not cross-origin isolated/);
    expect(await askPage(page, PROMPT, NEW_TOKENS)).toEqual(want);
  }, 120_000);

  it('loads a model folder picked with the file input (no download), same ids', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}?autoload=0`);
    await page.setInputFiles('#model-files', dir);
    await page.waitForFunction(
      () => ['ready', 'error'].includes((globalThis as unknown as W).minicpmPage?.state ?? ''),
      null,
      { timeout: 60_000 },
    );
    expect(await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.error)).toBe('');
    expect(await page.textContent('#status')).toMatch(/^Ready: /);
    expect(await askPage(page, PROMPT, 5)).toEqual(firstIds.slice(0, 5));
  }, 120_000);

  it('loads bf16 weights in several shards (index + files, read shard by shard), same ids as Node', async () => {
    const sharded = await bf16Sharded(dir, 3);
    const model = await loadModel(sharded);
    const { tokenizer, chatTemplate } = loadTokenizer(sharded);
    const prompt = renderPrompt(tokenizer, chatFormatFor('auto', 'minicpm', chatTemplate), [
      { role: 'user', content: PROMPT },
    ]);
    const [want] = await generateAll(model, [prompt], {
      greedy: true,
      maxNewTokens: 8,
      stopIds: [model.config.eosTokenId],
    });
    const srv = await startWebServer({ model: sharded, port: 0, threads: 2 });
    after.push(() => srv.server.close());
    const page = await browser.newPage();
    await page.goto(srv.url);
    await page.waitForFunction(
      () => ['ready', 'error'].includes((globalThis as unknown as W).minicpmPage?.state ?? ''),
      null,
      { timeout: 60_000 },
    );
    expect(await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.error)).toBe('');
    expect(await askPage(page, PROMPT, 8)).toEqual(want);
  }, 120_000);

  it('a reload reads the model from the Cache API; Escape stops a long answer', async () => {
    // a folder with no end token, so only Escape can end the answer before 4000 tokens
    const endless = await startWebServer({
      model: await makeBrowserModel({}, 7, { bos_token_id: 1, eos_token_id: [] }),
      port: 0,
      threads: 2,
    });
    after.push(() => endless.server.close());
    const page = await browser.newPage();
    const ready = () =>
      page.waitForFunction(() => (globalThis as unknown as W).minicpmPage?.state === 'ready', null, {
        timeout: 60_000,
      });
    await page.goto(endless.url);
    await ready();
    await page.reload();
    await ready();
    const cached = await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.cachedFiles);
    expect(cached).toEqual(expect.arrayContaining(['config.json', 'tokenizer.model', 'model.safetensors']));

    await typePrompt(page, PROMPT, 4000);
    await page.waitForFunction(() => (globalThis as unknown as W).minicpmPage!.state === 'generating');
    await page.waitForTimeout(300);
    await page.keyboard.press('Escape');
    await ready();
    const ids = await page.evaluate(() => (globalThis as unknown as W).minicpmPage!.lastIds);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(4000);
    expect(await page.textContent('#stats')).toMatch(/\(stopped\)/);
  }, 120_000);
});
