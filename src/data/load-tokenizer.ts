/**
 * The one place data/ reaches into tokenizer/: `data prepare --tokenizer PATH` loads a tokenizer.model,
 * tokenizer.json or model folder through tokenizer/'s `loadTokenizer`, and adapts it to the small
 * `TextEncoder` contract (no BOS/EOS from the tokenizer: the packer adds them). `bytes` selects the
 * byte-level encoder.
 */
import { loadTokenizer } from '../tokenizer/index.js';
import { ByteEncoder } from './byte-encoder.js';
import type { TextEncoder } from './types.js';

export async function loadTextEncoder(spec: string): Promise<TextEncoder> {
  if (spec === 'bytes') return new ByteEncoder();
  const { tokenizer } = await Promise.resolve(loadTokenizer(spec));
  return {
    bosId: tokenizer.bosId,
    eosId: tokenizer.eosId,
    vocabSize: tokenizer.vocabSize,
    encode: (text: string) => tokenizer.encode(text, { addBos: false, addEos: false }),
  };
}
