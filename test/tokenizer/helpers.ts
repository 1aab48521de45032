/** Paths and readers shared by the tokenizer tests. Shared fixtures are optional: tests skip visibly. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const OWN = join(here, '..', 'fixtures', 'tokenizer');
export const SHARED = join(here, '..', '..', '..', 'shared', 'fixtures');
export const SHARED_TOK = join(SHARED, 'tokenizer');
export const hasShared = existsSync(join(SHARED_TOK, 'minicpm-2b', 'tokenizer.model'));
export const hasGguf = existsSync(join(SHARED, 'gguf', 'ggml-vocab-llama-spm.gguf'));

if (!hasShared)
  console.warn('[tokenizer tests] ../shared/fixtures/tokenizer is absent: MiniCPM fixture tests are skipped');

export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Small training text: English, Chinese, code, digits. */
export const TRAIN_TEXT: string[] = (() => {
  const base = [
    'The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.',
    'MiniCPM is a small language model that runs on phones and laptops.',
    '今天天气很好，我们去公园散步吧。人工智能正在改变世界。',
    '学而时习之，不亦说乎？有朋自远方来，不亦乐乎？',
    'def add(a, b):\n    return a + b  # adds two numbers',
    'for (let i = 0; i < 10; i++) { total += values[i]; }',
    'Prices rose 12.5% in 2023 and 7% in 2024.',
    '<用户>你好<AI>你好！有什么可以帮你？',
  ];
  const out: string[] = [];
  for (let i = 0; i < 40; i++) for (const s of base) out.push(i % 2 ? s : s.toLowerCase());
  return out;
})();
