#!/usr/bin/env node
/**
 * Bundles the browser page (web/src/app.ts, web/src/engine-worker.ts) with esbuild into an output
 * folder, next to web/index.html and web/style.css. `npm pack` runs it into dist/web (shipped, so users
 * need no bundler); `minicpm web` in a checkout builds into build/web when the sources are newer.
 *
 * Modules the engine shares with Node import node:* built-ins at the top (for functions the browser
 * never calls: file loading, training); those resolve to a stub that throws if ever called.
 *
 *   node scripts/build-web.mjs [outdir]      default dist/web
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const nodeStub = {
  name: 'node-builtins-stub',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      contents: `const fail = () => { throw new Error('${a.path} is not available in browsers'); };
module.exports = new Proxy({}, { get: (_, k) => (k === '__esModule' ? false : fail) });`,
      loader: 'js',
    }));
  },
};

/** Builds into outDir; returns esbuild's result. */
export async function buildWeb(outDir = join(root, 'dist', 'web')) {
  const { build } = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(root, 'web', 'src', 'app.ts'), join(root, 'web', 'src', 'engine-worker.ts')],
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    sourcemap: true,
    minify: true,
    plugins: [nodeStub],
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(outDir, f));
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = resolve(process.argv[2] ?? join(root, 'dist', 'web'));
  await buildWeb(out);
  console.log(`build-web: bundled the page into ${out}`);
}
