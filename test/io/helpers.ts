// Shared test helpers: temp folders and the ../shared fixtures (skipped visibly when absent).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ioFixtures = path.join(projectRoot, 'test/fixtures/io');
export const sharedFixtures = path.resolve(projectRoot, '../shared/fixtures');
export const hasShared = fs.existsSync(sharedFixtures);

if (!hasShared) {
  console.warn(`[test/io] SKIPPING tests that need ${sharedFixtures} (absent in this checkout)`);
}

/** A fresh temp dir, removed after the file's tests. */
export function tempDir(tag = 'io'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `minicpm-${tag}-`));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Files left in `dir` whose names mark them as temp or spill files of an atomic write. */
export function leftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /\.(tmp|spill|old)-/.test(f));
}
