#!/usr/bin/env node
// Runs the TypeScript sources through tsx in a development checkout, the compiled dist/ otherwise.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = `${root}src/cli/main.ts`;
let mod;
if (existsSync(src) && existsSync(`${root}node_modules/tsx`)) {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(src).href);
} else {
  mod = await import(pathToFileURL(`${root}dist/cli/main.js`).href);
}
await mod.main(process.argv);
