/**
 * The chat page: loads a model in the engine worker (by URL, picked folder or picked GGUF file), shows
 * load progress, streams answers with tokens/s, and works with the keyboard alone (Enter sends, Escape stops).
 * `window.minicpmPage` exposes the state and the last generated ids, for the browser test.
 */
import type { ChatMessage } from '../../src/tokenizer/index.js';
import type { FromWorker, ModelSource, ToWorker } from './messages.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const notice = $<HTMLParagraphElement>('notice');
const status = $<HTMLParagraphElement>('status');
const progress = $<HTMLProgressElement>('progress');
const log = $<HTMLElement>('log');
const prompt = $<HTMLTextAreaElement>('prompt');
const send = $<HTMLButtonElement>('send');
const stop = $<HTMLButtonElement>('stop');
const stats = $<HTMLParagraphElement>('stats');
const modelUrl = $<HTMLInputElement>('model-url');

const page = {
  state: 'idle' as 'idle' | 'loading' | 'ready' | 'generating' | 'error',
  backend: '',
  lastIds: [] as number[],
  lastText: '',
  error: '',
  tokensPerSecond: 0,
  prefillTokensPerSecond: 0,
  /** Files this load read from the Cache API instead of the network. */
  cachedFiles: [] as string[],
  /** The last 'done' message (timings of the last generation). */
  lastDone: null as Extract<FromWorker, { type: 'done' }> | null,
  /** Loads a model folder URL with this many kernel threads (scripted use: tests and benchmarks). */
  loadUrl(base: string, threads: number): void {
    $<HTMLInputElement>('threads').value = String(threads);
    load({ kind: 'url', base: new URL(base, location.href).href });
  },
  /** Greedy generation from prompt ids with no stop token; read lastDone once state is 'ready'. */
  bench(prompt: number[], decode: number): void {
    if (page.state !== 'ready') throw new Error(`the page is ${page.state}, not ready`);
    page.state = 'generating';
    page.lastText = '';
    answer = null;
    post({ type: 'bench', prompt, decode });
  },
};
(window as unknown as { minicpmPage: typeof page }).minicpmPage = page;

const worker = new Worker(new URL('engine-worker.js', import.meta.url), { type: 'module' });
const cancel = crossOriginIsolated ? new SharedArrayBuffer(4) : null;
const history: ChatMessage[] = [];
let answer: HTMLElement | null = null;

if (!crossOriginIsolated) {
  notice.hidden = false;
  notice.textContent =
    'This page is not cross-origin isolated: the model will run on one thread (no shared memory for WebAssembly threads).';
}

const post = (m: ToWorker) => worker.postMessage(m);

function setBusy(generating: boolean): void {
  prompt.disabled = generating || page.state !== 'ready';
  send.disabled = prompt.disabled;
  stop.disabled = !generating;
}

function load(source: ModelSource): void {
  // a new model starts a new conversation
  history.length = 0;
  log.replaceChildren();
  answer = null;
  page.state = 'loading';
  page.cachedFiles = [];
  status.textContent = 'Loading…';
  progress.value = 0;
  const threads = Math.max(1, Number($<HTMLInputElement>('threads').value) || 1);
  post({
    type: 'load',
    source,
    threads,
    wasmUrl: new URL('minicpm-kernels.wasm', location.href).href,
    wasmStUrl: new URL('minicpm-kernels-st.wasm', location.href).href,
    cancel,
  });
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'progress':
      if (m.phase === 'cache') page.cachedFiles.push(m.file);
      progress.max = Math.max(m.total, 1);
      progress.value = m.loaded;
      status.textContent = `${m.phase === 'weights' ? 'Reading weights' : m.phase === 'cache' ? 'From cache' : 'Downloading'} ${m.file}: ${(m.loaded / 2 ** 20).toFixed(1)} / ${(m.total / 2 ** 20).toFixed(1)} MiB`;
      break;
    case 'ready':
      page.state = 'ready';
      page.backend = m.backend;
      progress.value = progress.max;
      status.textContent = `Ready: ${(m.params / 1e6).toFixed(1)}M parameters, ${m.layers} layers, on ${m.backend}.`;
      if (m.notice) {
        notice.hidden = false;
        notice.textContent = m.notice;
      }
      setBusy(false);
      prompt.focus();
      break;
    case 'token':
      page.lastText += m.text;
      if (answer) answer.textContent = page.lastText;
      break;
    case 'done': {
      page.state = 'ready';
      page.lastIds = m.ids;
      const decoded = Math.max(m.ids.length - 1, 0);
      page.prefillTokensPerSecond = m.promptTokens / (m.prefillMs / 1000);
      page.tokensPerSecond = decoded ? decoded / (m.decodeMs / 1000) : 0;
      stats.textContent =
        `${m.ids.length} tokens${m.cancelled ? ' (stopped)' : ''} · prefill ${m.promptTokens} tokens at ` +
        `${page.prefillTokensPerSecond.toFixed(1)} tok/s · decode ${page.tokensPerSecond.toFixed(1)} tok/s`;
      page.lastDone = m;
      if (answer) history.push({ role: 'assistant', content: page.lastText });
      setBusy(false);
      prompt.focus();
      break;
    }
    case 'error':
      page.state = page.state === 'generating' ? 'ready' : 'error';
      page.error = m.message;
      status.textContent = `Error: ${m.message}`;
      setBusy(false);
      break;
  }
};

$<HTMLFormElement>('load-form').onsubmit = (e) => {
  e.preventDefault();
  if (modelUrl.value) load({ kind: 'url', base: new URL(modelUrl.value, location.href).href });
};
for (const id of ['model-files', 'model-gguf'])
  $<HTMLInputElement>(id).onchange = (e) => {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    if (files.length) load({ kind: 'files', files });
  };

function submit(): void {
  const text = prompt.value.trim();
  if (!text || page.state !== 'ready') return;
  history.push({ role: 'user', content: text });
  const u = document.createElement('div');
  u.className = 'msg user';
  u.textContent = text;
  answer = document.createElement('div');
  answer.className = 'msg assistant';
  log.append(u, answer);
  prompt.value = '';
  page.state = 'generating';
  page.lastText = '';
  setBusy(true);
  stop.focus();
  const maxNewTokens = Math.max(1, Number($<HTMLInputElement>('max-tokens').value) || 128);
  const temperature = Math.max(0, Number($<HTMLInputElement>('temperature').value) || 0);
  post({ type: 'generate', messages: history, maxNewTokens, temperature });
}

function halt(): void {
  if (page.state !== 'generating') return;
  if (cancel) Atomics.store(new Int32Array(cancel), 0, 1);
  else post({ type: 'cancel' });
}

$<HTMLFormElement>('chat-form').onsubmit = (e) => {
  e.preventDefault();
  submit();
};
prompt.onkeydown = (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    submit();
  }
};
stop.onclick = halt;
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') halt();
});

// `minicpm web` serves a model: its URL comes from /api/info (else the field stays for the user)
void fetch('api/info')
  .then((r) => (r.ok ? (r.json() as Promise<{ modelUrl?: string; threads?: number }>) : null))
  .then((info) => {
    if (info?.threads) $<HTMLInputElement>('threads').value = String(info.threads);
    if (info?.modelUrl) {
      modelUrl.value = new URL(info.modelUrl, location.href).href;
      if (new URLSearchParams(location.search).get('autoload') !== '0')
        load({ kind: 'url', base: modelUrl.value });
    }
  })
  .catch(() => {});
