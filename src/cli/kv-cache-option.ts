/** The `--kv-cache` flag of the commands that run a model (generate, logits, perplexity, serve, chat). */
import { KV_CACHE_DTYPES, type KVCacheDtype } from '../models/kv-cache.js';

export class KvCacheOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvCacheOptionError';
  }
}

export function kvCacheOption(value: string): KVCacheDtype {
  if (!(KV_CACHE_DTYPES as readonly string[]).includes(value))
    throw new KvCacheOptionError(`--kv-cache must be ${KV_CACHE_DTYPES.join(', ')}, got "${value}"`);
  return value as KVCacheDtype;
}

export const KV_CACHE_FLAG = `--kv-cache <${KV_CACHE_DTYPES.join('|')}>`;
export const KV_CACHE_HELP =
  'KV cache storage: bf16 halves its memory and decode attention reads, int8 (a scale per position and head) ~3.8x less than f32';
