/** The `--kv-cache` flag of the commands that run a model (serve, chat). */
import type { KVCacheDtype } from '../models/kv-cache.js';

export class KvCacheOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvCacheOptionError';
  }
}

export function kvCacheOption(value: string): KVCacheDtype {
  if (value !== 'f32' && value !== 'bf16')
    throw new KvCacheOptionError(`--kv-cache must be f32 or bf16, got "${value}"`);
  return value;
}
