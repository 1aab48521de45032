/** Where things live: the cache root (MINICPM_CACHE or ~/.cache/minicpm) and the package's own configs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The cache root; `MINICPM_CACHE` overrides `~/.cache/minicpm` (XDG_CACHE_HOME is honoured). */
export function cacheRoot(): string {
  if (process.env.MINICPM_CACHE) return path.resolve(process.env.MINICPM_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'minicpm');
}

/** Default folder of the built-in corpus: installed packages under `npm/`, documents under `docs/`. */
export function defaultCorpusDir(): string {
  return path.join(cacheRoot(), 'corpus');
}

/** The root of the minicpm package (found by walking up to its package.json), for `configs/`. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'minicpm') return dir;
      } catch {
        /* not ours; keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function mixturesDir(): string {
  return path.join(packageRoot(), 'configs', 'mixtures');
}
