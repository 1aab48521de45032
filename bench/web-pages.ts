/**
 * The HTTP side of `npm run bench -- web`: one cross-origin isolated origin (COOP/COEP) serving our
 * bundled page and kernel module, the model folders, their GGUF twins, and wllama's ESM build with a
 * small page that runs it, so both engines run in the same Chromium under the same conditions, taking turns.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/**
 * wllama in the page: wllamaLoad(url, threads, nCtx) loads a GGUF once; wllamaRun(prompt, decode) is one
 * greedy completion (the prompt evaluated afresh each time), so the bench can alternate it with ours
 * run by run; wllamaExit() frees it.
 */
export const WLLAMA_PAGE = `<!doctype html><meta charset="utf-8"><title>wllama bench</title>
<script type="module">
import { Wllama } from '/wllama/index.js';
let w = null;
window.wllamaLoad = async (url, threads, nCtx) => {
  w = new Wllama({ default: '/wllama/wasm/wllama.wasm', 'wllama.wasm': '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
  // a Blob, not loadModelFromUrl: its download cache would hit the ephemeral profile's storage quota
  const blob = await (await fetch(url)).blob();
  await w.loadModel([blob], { n_threads: threads, n_gpu_layers: 0, n_ctx: nCtx, n_batch: 512 });
  return { threads: w.getNumThreads?.() ?? null, multi: w.isMultithread?.() ?? null };
};
window.wllamaRun = async (prompt, decode) =>
  (await w.createCompletion({ prompt, max_tokens: decode, temp: 0, top_k: 1, ignore_eos: true, cache_prompt: false })).timings;
window.wllamaExit = async () => {
  await w?.exit();
  w = null;
};
window.wllamaReady = true;
</script>`;

/** Serves `routes` (URL prefix → folder) with COOP/COEP; `pages` are inline HTML by path. */
export async function serveBench(
  routes: Record<string, string>,
  pages: Record<string, string>,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (pages[path]) {
      res.writeHead(200, { 'Content-Type': TYPES['.html'] }).end(pages[path]);
      return;
    }
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!path.startsWith(prefix)) continue;
      const file = resolve(
        dir,
        normalize(path.slice(prefix.length) || 'index.html').replace(/^([/\\])+/, ''),
      );
      if (!file.startsWith(resolve(dir)) || !existsSync(file) || !statSync(file).isFile()) break;
      // byte ranges: wllama's downloader asks for them
      const size = statSync(file).size;
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      const start = m && m[1] ? Number(m[1]) : m && m[2] ? Math.max(0, size - Number(m[2])) : 0;
      const end = m && m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      res.writeHead(m ? 206 : 200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': end - start + 1,
        'Accept-Ranges': 'bytes',
        ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const a = server.address();
  return { server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
}

export const joinUrl = (...parts: string[]) => parts.join('/').replace(/\/+/g, '/');
export { join };
