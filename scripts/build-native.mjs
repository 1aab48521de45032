#!/usr/bin/env node
/**
 * Builds the native kernel library (binding.gyp → build/Release/minicpm_native.node) with npm's own
 * node-gyp. This is the package's install script, so it must never fail the install: when the
 * build fails it says what failed and that the (much slower) TypeScript backend will be used, and
 * exits 0. Quiet on success unless --verbose (`npm run build-native`).
 *
 * No downloads: Node's headers come from `nodedir` (npm config or env), else from the headers
 * installed next to this node binary (<prefix>/include/node), which node-gyp accepts as a nodedir.
 *
 * `--sources <group>` is used by binding.gyp: it lists native/src/*.c of one ISA group, chosen by
 * the file-name suffix (foo-avx2.c, foo-avx512.c, foo-avx512bf16.c, foo-avx512vnni.c; every other
 * .c is 'base'), so a new kernel file needs no build edit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.argv.includes('--verbose');

const sourcesAt = process.argv.indexOf('--sources');
if (sourcesAt >= 0) {
  const groups = ['avx512bf16', 'avx512vnni', 'avx512', 'avx2'];
  const groupOf = (f) => groups.find((g) => f.endsWith(`-${g}.c`)) ?? 'base';
  const want = process.argv[sourcesAt + 1] ?? 'base';
  const files = readdirSync(join(root, 'native', 'src')).filter(
    (f) => f.endsWith('.c') && groupOf(f) === want,
  );
  // relative to binding.gyp, which is where gyp resolves sources
  console.log(
    files
      .sort()
      .map((f) => `native/src/${f}`)
      .join(' '),
  );
  process.exit(0);
}
const log = (msg) => verbose && console.log(`build-native: ${msg}`);

/** npm's bundled node-gyp: npm passes its path in npm_config_node_gyp when running scripts. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally: fine
  }
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** `nodedir` from the environment or an npmrc (project, then user), else the local headers. */
function findNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  for (const rc of [join(root, '.npmrc'), join(homedir(), '.npmrc')]) {
    if (!existsSync(rc)) continue;
    const m = /^\s*nodedir\s*=\s*(.+?)\s*$/m.exec(readFileSync(rc, 'utf8'));
    if (m) return m[1];
  }
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function giveUp(what, detail) {
  const tail = detail ? `\n${detail.trim().split('\n').slice(-15).join('\n')}\n` : '\n';
  console.warn(
    `minicpm: could not build the native kernels: ${what}.${tail}` +
      'minicpm will still work, using its TypeScript reference backend (about 100x slower).\n' +
      'To retry: `npm run build-native` in the minicpm package (needs python3, make and a C compiler).',
  );
  process.exit(0);
}

if (process.env.MINICPM_SKIP_NATIVE === '1') {
  log('MINICPM_SKIP_NATIVE=1: skipped');
  process.exit(0);
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) giveUp("npm's node-gyp was not found (set npm_config_node_gyp to node-gyp.js)");
const nodeDir = findNodeDir();
const args = [nodeGyp, 'rebuild', '--jobs=max'];
if (nodeDir) args.push(`--nodedir=${nodeDir}`);
if (verbose) args.push('--verbose');
log(`${process.execPath} ${args.join(' ')}`);

const t0 = Date.now();
const r = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: verbose ? 'inherit' : 'pipe',
  encoding: 'utf8',
  timeout: 15 * 60 * 1000,
});
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error) giveUp(`node-gyp could not run (${r.error.message})`, output);
if (r.status !== 0) giveUp(`node-gyp exited with status ${r.status}`, output);
if (!existsSync(join(root, 'build', 'Release', 'minicpm_native.node')))
  giveUp('node-gyp succeeded but build/Release/minicpm_native.node is missing', output);
log(`built build/Release/minicpm_native.node in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
