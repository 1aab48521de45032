/**
 * `minicpm web --model DIR|FILE.gguf [--port P]`: serves the browser chat page and a model (folder or
 * GGUF file) on 127.0.0.1, with the COOP/COEP headers that make the page cross-origin isolated (shared
 * memory, so the wasm kernels run on several threads). The model is served under a path derived from its files' names,
 * sizes and times, so a browser's cached copy of another model at the same address is never reused.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { findWasmModule, WASM_ST_MODULE_PATH } from '../backends/wasm/wasm-node.js';

export class WebCommandError extends Error {
  override name = 'WebCommandError';
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** The package root: the folder above this file that holds package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
}

/** The bundled page: built from web/src in a checkout (esbuild), else the one shipped in dist/web. */
async function pageDir(root: string): Promise<string> {
  const script = join(root, 'scripts', 'build-web.mjs');
  if (existsSync(join(root, 'web', 'src', 'app.ts')) && existsSync(script)) {
    const out = join(root, 'build', 'web');
    try {
      const { buildWeb } = (await import(pathToFileURL(script).href)) as {
        buildWeb: (o: string) => Promise<unknown>;
      };
      await buildWeb(out);
      return out;
    } catch (e) {
      if (!existsSync(join(root, 'dist', 'web', 'app.js')))
        throw new WebCommandError(
          `bundling the page failed (${(e as Error).message}): run npm install in the checkout`,
        );
    }
  }
  const shipped = join(root, 'dist', 'web');
  if (!existsSync(join(shipped, 'app.js')))
    throw new WebCommandError(`${shipped} is missing: reinstall minicpm, or run node scripts/build-web.mjs`);
  return shipped;
}

/** Regular files directly in the model folder, by name; a GGUF file is served alone. */
function modelFiles(dir: string): Map<string, number> {
  if (existsSync(dir) && statSync(dir).isFile() && dir.toLowerCase().endsWith('.gguf'))
    return new Map([[basename(dir), statSync(dir).size]]);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new WebCommandError(
      `--model ${dir} is neither a folder nor a .gguf file: pass a MiniCPM model folder (config.json, weights, tokenizer) or a GGUF file`,
    );
  if (!existsSync(join(dir, 'config.json')))
    throw new WebCommandError(`${dir} has no config.json: pass a MiniCPM model folder`);
  const files = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    const s = statSync(join(dir, f));
    if (s.isFile()) files.set(f, s.size);
  }
  return files;
}

export interface WebServerOptions {
  model: string;
  port: number;
  threads: number;
  /** false leaves out COOP/COEP (tests of the page's one-thread fallback); default true. */
  isolate?: boolean;
}

/** Starts the server; resolves once it listens (port 0 picks a free one: read server.address()). */
export async function startWebServer(o: WebServerOptions): Promise<{ server: Server; url: string }> {
  const root = packageRoot();
  const page = await pageDir(root);
  const wasm = findWasmModule();
  const wasmSt = findWasmModule(WASM_ST_MODULE_PATH);
  if (!wasm || !wasmSt)
    throw new WebCommandError('native/wasm/minicpm-kernels*.wasm are missing: reinstall minicpm');
  const modelPath = resolve(o.model);
  const files = modelFiles(modelPath);
  const gguf = statSync(modelPath).isFile() ? basename(modelPath) : null;
  const modelDir = gguf ? dirname(modelPath) : modelPath;
  const id = createHash('sha256')
    .update(modelPath)
    .update(JSON.stringify([...files].map(([f, size]) => [f, size, statSync(join(modelDir, f)).mtimeMs])))
    .digest('hex')
    .slice(0, 16);
  const modelPrefix = `/model/${id}/`;

  const server = createServer((req, res) => {
    if (o.isolate !== false) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const send = (file: string, cache: string) => {
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': statSync(file).size,
        'Cache-Control': cache,
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/api/info') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(
        JSON.stringify({
          modelUrl: modelPrefix + (gguf ? encodeURIComponent(gguf) : ''),
          threads: o.threads,
        }),
      );
    } else if (path === '/minicpm-kernels.wasm') {
      send(wasm, 'no-cache');
    } else if (path === '/minicpm-kernels-st.wasm') {
      send(wasmSt, 'no-cache');
    } else if (path.startsWith(modelPrefix) && files.has(path.slice(modelPrefix.length))) {
      // names come from the folder listing, so no path can leave it
      send(join(modelDir, path.slice(modelPrefix.length)), 'no-cache');
    } else {
      const name = path === '/' ? 'index.html' : path.slice(1);
      if (/^[\w.-]+$/.test(name) && existsSync(join(page, name))) send(join(page, name), 'no-cache');
      else res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${path} not found\n`);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE' ? new WebCommandError(`port ${o.port} is in use: pass another --port`) : e,
      ),
    );
    server.listen(o.port, '127.0.0.1', ok);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return { server, url: `http://127.0.0.1:${port}/` };
}

export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description(
      'serve the browser chat page and a model on 127.0.0.1 (WebAssembly kernels, threads via COOP/COEP)',
    )
    .requiredOption(
      '--model <path>',
      'model folder (config.json, safetensors f32/bf16 or GPTQ W4/W8, tokenizer) or GGUF file',
    )
    .option('--port <n>', 'port', '8090')
    .option('--threads <n>', 'kernel threads in the page (the page may change it)', '2')
    .action(async (opts: { model: string; port: string; threads: string }) => {
      const port = Number(opts.port);
      const threads = Number(opts.threads);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new WebCommandError(`--port must be an integer in [0, 65535], got ${opts.port}`);
      if (!Number.isInteger(threads) || threads < 1 || threads > 64)
        throw new WebCommandError(`--threads must be an integer in [1, 64], got ${opts.threads}`);
      const { url } = await startWebServer({ model: opts.model, port, threads });
      console.log(`minicpm web: serving ${resolve(opts.model)} at ${url} (Ctrl+C stops)`);
    });
}
